# METADATA
# title: LoRA adapter registration and application
# description: |
#   A1: an adapter is applied only to requests of its owner, or to anyone's when it is marked
#   public, and only when the weights' digest is the one registered. One evaluation decides a
#   whole batch; `items` carries a decision per request. The sidecar enforces A1 in code too.
#   Input (adapters.apply): {principal, action, resource: {items: [{index, tenant, adapter_id,
#   facts: {registered, owner_is_tenant, public, digest_matches}}]}}.
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

deny_reasons contains concat(":", ["item_denied", format_int(index, 10)]) if some [index, _] in item_denials

# [index, reason] for every refused item of an apply batch.
item_denials contains [item.index, "adapter_unknown"] if {
	some item in apply_items
	not item.facts.registered
}

item_denials contains [item.index, "adapter_not_permitted"] if {
	some item in apply_items
	item.facts.registered
	not usable_by_tenant(item)
}

item_denials contains [item.index, "digest_mismatch"] if {
	some item in apply_items
	item.facts.registered
	not item.facts.digest_matches
}

apply_items := input.resource.items if input.action == "adapters.apply"

usable_by_tenant(item) if item.facts.owner_is_tenant

usable_by_tenant(item) if item.facts.public

reasons_for(index) := sort([reason | some [i, reason] in item_denials; i == index])

items := [{"index": item.index, "allow": count(reasons_for(item.index)) == 0, "reasons": reasons_for(item.index)} |
	some item in apply_items
]

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons]), "items": items} if input.action == "adapters.apply"

decision := {"allow": allow, "reasons": sort([r | some r in deny_reasons])} if input.action != "adapters.apply"
