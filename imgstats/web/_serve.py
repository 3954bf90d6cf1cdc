"""``imgstats serve``: the app under gunicorn (threaded workers), or Flask's dev server."""

from __future__ import annotations

import os

__all__ = ["serve", "gunicorn_options"]


def gunicorn_options(host: str, port: int, workers: int | None = None,
                     threads: int | None = None) -> dict:
    """gunicorn settings: ``gthread`` workers, so keep-alive clients and slow stores do not
    block a whole process; ``IMGSTATS_WORKERS`` / ``IMGSTATS_THREADS`` give the defaults."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers or int(os.environ.get("IMGSTATS_WORKERS", "2")),
        "worker_class": "gthread",
        "threads": threads or int(os.environ.get("IMGSTATS_THREADS", "4")),
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 5,
        # Each worker builds its own app (caches, Redis pool, dask client) after the fork.
        "preload_app": False,
        # gunicorn >= 25.1 opens a control socket at one fixed path per user: several
        # servers (tests, benchmarks) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def serve(images=None, host: str = "127.0.0.1", port: int = 8181, workers: int | None = None,
          dev: bool = False, threads: int | None = None) -> int:
    """Run the imgstats HTTP service until interrupted.

    Parameters
    ----------
    images : str, optional
        A folder or fsspec URL; default ``IMGSTATS_IMAGES`` or the bundled gallery.
    host, port : str, int
        Where to listen.
    workers, threads : int, optional
        gunicorn worker processes and threads per worker.
    dev : bool
        Use Flask's development server (one process, for local work only).

    Returns
    -------
    int
        The exit status.
    """
    from . import create_app

    config = {"IMAGES": os.fspath(images)} if images else {}
    if dev:
        create_app(config).run(host=host, port=port, threaded=True, debug=False)
        return 0
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_options(host, port, workers, threads).items():
                if key in self.cfg.settings:  # older gunicorns lack some settings
                    self.cfg.set(key, value)

        def load(self):
            return create_app(config)

    Application().run()
    return 0
