"""The five Celery tasks of every chain, one module each; their names are the wire contract."""
