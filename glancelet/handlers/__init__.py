"""Request handlers, one module per resource. Each is ``handler(req, start_response)``."""
