"""Which part of a claim a payment pays: fees, interest and principal, in the tenant's order.

A payment pays each part up to what that part still owes, in order; anything left over
(a payment larger than the claim) goes to the last part, so the allocations always add
up to the payment exactly. A reversal takes back what its payment paid, last part first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from portal.models import ClaimPart

DEFAULT_ORDER = (ClaimPart.FEES, ClaimPart.INTEREST, ClaimPart.PRINCIPAL)


def order_of(names: Sequence[str]) -> tuple[ClaimPart, ...]:
    """A tenant's configured order, with any part it leaves out paid last."""
    chosen = [ClaimPart(name) for name in names if name in ClaimPart.__members__.values()]
    return tuple(dict.fromkeys([*chosen, *DEFAULT_ORDER]))


def allocate(
    amount_minor: int, owed: Mapping[ClaimPart, int], order: Sequence[ClaimPart]
) -> dict[ClaimPart, int]:
    """Split a positive ``amount_minor`` over ``order``; only non-zero shares are returned."""
    if amount_minor <= 0:
        raise ValueError("only a positive amount is allocated")
    if not order:
        raise ValueError("allocation needs at least one part")
    shares: dict[ClaimPart, int] = {}
    left = amount_minor
    for part in order:
        share = min(left, max(owed.get(part, 0), 0))
        if share:
            shares[part] = share
            left -= share
    if left:
        shares[order[-1]] = shares.get(order[-1], 0) + left
    return shares


def take_back(
    amount_minor: int, paid: Mapping[ClaimPart, int], order: Sequence[ClaimPart]
) -> dict[ClaimPart, int]:
    """What a reversal of ``amount_minor`` takes from each part a payment ``paid`` (as
    positive amounts), last part of ``order`` first; never more than was paid."""
    if not 0 < amount_minor <= sum(paid.values()):
        raise ValueError("a reversal takes back between one minor unit and the payment")
    return allocate(amount_minor, paid, tuple(reversed(order)))
