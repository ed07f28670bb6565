"""Every member a fitted forecaster can weigh, by name (`names.MEMBERS`): a new member is one module
with its `Kind`, and one line here. `tuner.members.base` says what a member is."""

from __future__ import annotations

from tuner.members import boosting, ets, linear, naive, networks
from tuner.members.base import Kind, Member, Recipe
from tuner.names import MEMBERS

KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    networks.KIND, boosting.KIND, boosting.LEVELLED, linear.KIND, ets.KIND,
    naive.NAIVE, naive.SEASONAL_NAIVE, naive.ADJUSTED_NAIVE)}
assert tuple(KINDS) == tuple(MEMBERS), "every member of names.MEMBERS is registered, in its order"

__all__ = ["KINDS", "Kind", "Member", "Recipe"]
