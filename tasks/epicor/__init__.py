"""Epicor posting shared by every flow: the document schemas and their wire form (``schemas``), posting a
payment's documents each exactly once (``posting``), and the adjustments against a posted sale: credit
memos, refund receipts and order holds (``adjustments``). Flows (``tasks.flows``) call these; nothing
here belongs to one flow.
"""
