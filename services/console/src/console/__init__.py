"""Vigie console: pages for the people who use Vigie, rendered on the server over the services' HTTP APIs."""
