# METADATA
# title: LoRA adapter registration and application
# description: |
#   A1: an adapter is applied only to requests of its owner, or to anyone's when it is marked
#   public, and only when the weights' digest is the one registered. Adapter ids are per tenant:
#   a bare id names the request's own tenant's adapter, `<owner>/<id>` another tenant's (issue
#   20.5). One evaluation decides a whole batch; `items` carries a decision per request. The
#   sidecar enforces A1 in code too.
#   Input (adapters.apply): {principal, action, resource: {items: [{index, tenant, adapter_id,
#   facts: {registered, owner_is_tenant, public, digest_matches}}]}}: owner_is_tenant says the
#   item names its own tenant's namespace; the other facts describe the adapter found there.
#   Input (adapters.register): {principal, action, tenant, resource: {rank, public}}.
package tenantguard.adapters

default allow := false

default max_rank := 256

max_rank := data.limits.max_adapter_rank

allow if {
	input.action in {"adapters.apply", "adapters.register"}
	count(deny_reasons) == 0
}

deny_reasons contains "unknown_action" if not input.action in {"adapters.apply", "adapters.register"}

# Registration: ranks are bounded so one tenant cannot claim GPU memory for a huge adapter.
deny_reasons contains "rank_invalid" if {
	input.action == "adapters.register"
	not valid_rank
}

valid_rank if {
	is_number(input.resource.rank)
	input.resource.rank == round(input.resource.rank)
	input.resource.rank >= 1
	input.resource.rank <= max_rank
}

# One entry per refused item of an apply batch. Each item's reasons are computed from that item
# alone (item_reasons), so a batch costs O(items): a lookup of every item's reasons in a shared set
# of all denials made a 1,024-item batch quadratic (seconds of CPU, hundreds of MiB of WASM memory).
deny_reasons contains concat(":", ["item_denied", format_int(item.index, 10)]) if {
	some item in apply_items
	count(item_reasons(item)) > 0
}

apply_items := input.resource.items if input.action == "adapters.apply"

item_checks := ["adapter_not_permitted", "adapter_unknown", "digest_mismatch"]

# Sorted, because item_checks is.
item_reasons(item) := [reason | some reason in item_checks; item_fails(item, reason)]

# Each tenant has its own namespace of adapter ids (issue 20.5); an item names its own tenant's
# adapter (owner_is_tenant) or another tenant's, which it may use only when that one is public.
item_fails(item, "adapter_unknown") if {
	item.facts.owner_is_tenant
	not item.facts.registered
}

# Another tenant's namespace answers the same for a private adapter and for none at all, so no
# verdict says whether another tenant has an adapter of that name (issue 20.5).
item_fails(item, "adapter_not_permitted") if not usable_by_tenant(item)

item_fails(item, "digest_mismatch") if {
	item.facts.registered
	usable_by_tenant(item)
	not item.facts.digest_matches
}

usable_by_tenant(item) if item.facts.owner_is_tenant

usable_by_tenant(item) if {
	item.facts.registered
	item.facts.public
}

items := [{"index": item.index, "allow": count(reasons) == 0, "reasons": reasons} |
	some item in apply_items
	reasons := item_reasons(item)
]

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons]), "items": items} if input.action == "adapters.apply"

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])} if input.action != "adapters.apply"
