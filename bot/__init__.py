"""The sales-funnel bot: configuration, app factory, channel adapters, scheduler, CLI, templates."""


def create_app(config: dict | None = None, clock=None):
    from .app import create_app as factory
    return factory(config, clock=clock)


__all__ = ["create_app"]
