"""The holder's control over their record, and the per-request record access.

``RecordAccess`` is built once per request from the authenticated actor. Every
read or write of a record goes through it: it loads the facts, asks the policy
(``opendsp.policy.decide``), writes the trace entry, and only then acts.
"""
