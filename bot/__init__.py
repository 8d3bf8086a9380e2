"""The sales-funnel bot: configuration, app factory, channel adapters, scheduler, CLI, templates."""


def create_app(config: dict | None = None, clock=None):
    from . import app
    return app.create_app(config, clock=clock)


__all__ = ["create_app"]
