"""The core of audit-trail: schema, store, queries, streams, keys, producer client, RQ jobs.

It imports neither ``api`` nor ``worker``; they and the command line import it.
"""
