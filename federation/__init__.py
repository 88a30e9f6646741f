"""Federation: peers, trust, authenticated transport, sync, gossip, blobs, discovery and bundles.

Never imports ``node`` or ``plugins``: what it needs from the host arrives as a ``typing.Protocol``.
"""
