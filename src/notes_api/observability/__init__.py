"""What an operator sees of the running service: each request's ID, its metrics, and the JSON log
format's fields. Skip it on a first read: the notes never import it.

- requests.py    the request being served: its X-Request-ID, and when it began
- middleware.py  Observe: sets it, echoes it on the answer, counts the request
- metrics.py     the metrics (prometheus-client), and their text for a scrape
- databases.py   the pools' and replicas' metrics, read from the data layer
- page.py        GET /metrics
"""
