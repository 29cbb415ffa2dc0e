"""Attribution: which campaign and segment each event counts under, as pure logic.

No I/O and no clock here: the hot path feeds events in, the functions say which facts
to write. ``rules`` attributes one event, ``lead`` keeps the per-lead state that makes
the result independent of arrival order, ``facts`` is the row every stage is counted by.
"""
