"""Card-button actions ("followup:42", "snooze:42", ...), registered with @router.action(name)."""
