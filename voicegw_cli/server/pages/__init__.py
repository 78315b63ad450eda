"""The dashboard's pages, one module per area; each handler is `(request, store, form)`."""
