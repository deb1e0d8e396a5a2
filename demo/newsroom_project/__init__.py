"""The newsroom project: settings, URLs and WSGI entry point of the demo."""
