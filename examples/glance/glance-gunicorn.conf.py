# gunicorn serving OpenStack Glance, in every pattern that runs gunicorn: the
# pattern's server settings (its gunicorn.conf.py, installed as shown for
# glancelet), with the application lines replaced.
# Start:    /opt/glance/bin/gunicorn -c /etc/glance/glance-gunicorn.conf.py
# Reload:   kill -HUP $(cat /run/glance/gunicorn.pid)
# Stop:     kill -TERM $(cat /run/glance/gunicorn.pid)
import runpy

# Every setting of the pattern's file: bind, worker class, workers, threads,
# timeouts, logs. A gunicorn config is Python; its settings are its
# module-level names, so the assignments below replace those read here.
globals().update((name, value) for name, value in
                 runpy.run_path("/etc/glancelet/gunicorn.conf.py").items()
                 if not name.startswith("_"))

# The application: Glance's WSGI entry point. Each worker imports it after
# the fork (gunicorn's default, preload_app = False), as Glance needs: at
# import it opens its database and starts a staging-cleanup thread.
wsgi_app = "glance.wsgi.api:application"
# glance.wsgi.api reads glance-api.conf and glance-api-paste.ini from here
# (this replaces glancelet's GLANCELET_CONFIG_FILE).
raw_env = ["OS_GLANCE_CONFIG_DIR=/etc/glance"]
pidfile = "/run/glance/gunicorn.pid"
control_socket = "/run/glance/gunicorn.ctl"
