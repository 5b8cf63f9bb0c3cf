# gunicorn serving glancelet (alone, or behind nginx-gunicorn.conf).
# Start:   /opt/glancelet/bin/gunicorn -c /etc/glancelet/gunicorn.conf.py
# Reload:  kill -HUP $(cat /run/glancelet/gunicorn.pid)
#          (new workers start; old ones finish their requests, then exit)
# Stop:    kill -TERM $(cat /run/glancelet/gunicorn.pid)
#          (workers finish in-flight requests for up to graceful_timeout)

# The application: glancelet's module-level WSGI callable.
wsgi_app = "glancelet.wsgi.api:application"
# glancelet reads its INI file from this variable (argv is not used).
raw_env = ["GLANCELET_CONFIG_FILE=/etc/glancelet/glancelet.conf"]

bind = ["127.0.0.1:60997"]
# Threads, not one request per process: an image upload keeps its thread
# busy for the whole transfer, and gthread gives each worker process a pool
# of them. Unlike the sync worker, a slow uploader then ties up one thread,
# not a whole process; and gthread keeps heartbeating while threads stream.
worker_class = "gthread"
workers = 4
threads = 4
# Seconds a worker may stop heartbeating before the master kills it. With
# gthread a long upload does not stop the heartbeat.
timeout = 60
# On SIGTERM or SIGHUP, seconds the old workers get to finish in-flight
# requests (an upload still running then is cut off).
graceful_timeout = 60
# Seconds an idle keep-alive connection stays open for the next request.
keepalive = 5
# Largest request header (default 8190 bytes). Keystone tokens are long.
limit_request_field_size = 65535
# Where `kill -HUP $(cat ...)` finds the master.
pidfile = "/run/glancelet/gunicorn.pid"
# gunicorn >= 25.1 opens a control socket for `gunicornc`; the default
# ($HOME/.gunicorn/gunicorn.ctl) is shared by every instance run by the user.
control_socket = "/run/glancelet/gunicorn.ctl"
# Access and error logs to stderr, which the service manager collects.
accesslog = "-"
errorlog = "-"
