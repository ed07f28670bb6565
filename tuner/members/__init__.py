"""Every member a fitted forecaster can weigh, by name (`names.MEMBERS`): a new member is one module
with its `Kind`, and one line here. `tuner.members.base` says what a member is. The networks of each
tuned configuration (fit.configs) are a member of their own: networks, networks_2, ..."""

from __future__ import annotations

from tuner.config.names import MEMBERS, member_kind
from tuner.members import boosting, ets, linear, naive, networks
from tuner.members.base import Kind, Member, Recipe

KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    networks.KIND, boosting.KIND, boosting.LEVELLED, linear.KIND, ets.KIND,
    naive.NAIVE, naive.SEASONAL_NAIVE, naive.ADJUSTED_NAIVE)}
assert tuple(KINDS) == tuple(MEMBERS), "every member of names.MEMBERS is registered, in its order"



def kind_of(name: str) -> Kind:
    """The kind of member `name` (networks_2 is a networks member)."""
    return KINDS[member_kind(name)]


__all__ = ["KINDS", "Kind", "Member", "Recipe", "kind_of"]
