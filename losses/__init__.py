"""One module per preference loss; each registers itself with ``@register_loss`` on import."""
