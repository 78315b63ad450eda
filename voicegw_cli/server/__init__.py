"""`voicegw serve`: the HTTP API, Prometheus metrics and the web dashboard, in one process.

`app.create_app` builds the Starlette app; `api` holds the JSON routes, `dashboard` the
server-rendered pages (Jinja2 templates and static files shipped inside the package).
Both call the same library functions as the CLI and the MCP tools.
"""
