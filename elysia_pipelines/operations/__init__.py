"""Running repositories day to day: status, diagnosis, alerts, failure classes, batch files.

Plain domain code (no Dagster): the `elysiactl repo` commands render these results,
and the Dagster sensors use `failures` and `alerts` to retry and to notify.
"""
