"""Issue 19, rights: the restriction of processing and the scope of an objection follow what a person or
a system entered, from the producer's API through the real outbox bytes into the gate's projection."""

from __future__ import annotations

from campaign_gate.domain.facts import Channel

from tests.lineage.world import World


async def test_a_restriction_and_its_lifting_reach_the_gate(world: World) -> None:
    contact_id = await world.contact()
    request = await world.post(
        "contacts",
        "/v1/requests",
        {"kind": "restriction", "contact_id": contact_id, "grounds": "legal_claims"},
    )
    restricted = await world.recipient(contact_id)
    assert (restricted.restricted, restricted.restriction_request_id) == (True, request["id"])

    await world.post(
        "contacts",
        f"/v1/requests/{request['id']}/restriction-lifting",
        {"reason": "claim settled", "informed_at": request["received_at"], "informed_by": "letter"},
    )
    lifted = await world.recipient(contact_id)
    assert (lifted.restricted, lifted.restriction_request_id) == (False, None)


async def test_an_objection_s_channel_or_purpose_scope_reaches_the_gate(world: World) -> None:
    by_channel, by_purpose = await world.contact(), await world.contact()
    purpose_id = await world.purpose()
    await world.post(
        "consent", "/v1/objections", {"contact_id": by_channel, "scope": "channel", "channel": "email"}
    )
    await world.post(
        "consent", "/v1/objections", {"contact_id": by_purpose, "scope": "purpose", "purpose_id": purpose_id}
    )
    [a] = (await world.recipient(by_channel)).objections
    [b] = (await world.recipient(by_purpose)).objections
    assert (a.channel, a.purpose_id) == (Channel.EMAIL, None)
    assert (b.channel, b.purpose_id) == (None, purpose_id)
