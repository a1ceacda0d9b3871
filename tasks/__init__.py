"""One adapter per task family; each registers itself with ``@register_task`` on import."""
