"""Helper threads that leave process signals to the main thread.

A signal sent to a process is handled by any one of its threads that does
not block it. Python runs its own handlers in the main thread whatever
happens, but a WSGI server's C handler runs in the thread that received the
signal: uWSGI's graceful-stop handler, for one, calls exit() from there. If
that thread is one of glancelet's (a hash thread, an import task), the
process exits under a task that then cannot finish. So every thread
glancelet starts blocks the signals servers use to stop and reload workers;
the main thread, which the server controls, still receives them.
"""

import signal

SERVER_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                            signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM})


def block_server_signals():
    """Call first thing in a helper thread's run()."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SERVER_SIGNALS)
