"""Contacts over the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from helpline.domain.users import Role
from tests.integration.conftest import MakeStaff


async def test_create_read_search_by_any_identity(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    agent = await make_staff(Role.AGENT)
    body = {
        "name": "Мария Иванова",
        "language": "ru",
        "tags": ["Lottery", "lottery ", "vip-candidate"],
        "attributes": {"city": "Казань"},
        "identities": [
            {"kind": "phone", "value": "8 (912) 345-67-89"},
            {"kind": "email", "value": " Maria@Example.COM "},
            {"kind": "telegram", "value": "123456789"},
        ],
    }
    created = await client.post("/api/v1/contacts", json=body, headers=agent.headers)
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["tags"] == ["lottery", "vip-candidate"]
    assert {(i["kind"], i["value"]) for i in contact["identities"]} == {
        ("phone", "+79123456789"),
        ("email", "maria@example.com"),
        ("telegram", "123456789"),
    }

    for kind, typed in [
        ("phone", "+7 912 345 67 89"),
        ("email", "MARIA@example.com"),
        ("telegram", "123456789"),
    ]:
        found = await client.get(
            "/api/v1/contacts", params={"identity_kind": kind, "identity_value": typed}, headers=agent.headers
        )
        assert [c["id"] for c in found.json()] == [contact["id"]], (kind, found.text)
    by_name = await client.get("/api/v1/contacts", params={"q": "иванова"}, headers=agent.headers)
    assert [c["id"] for c in by_name.json()] == [contact["id"]]
    read = await client.get(f"/api/v1/contacts/{contact['id']}", headers=agent.headers)
    assert read.json()["attributes"] == {"city": "Казань"}


async def test_identity_belongs_to_one_contact_and_rejection_changes_nothing(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff()
    first = await client.post(
        "/api/v1/contacts",
        headers=agent.headers,
        json={"name": "A", "identities": [{"kind": "phone", "value": "+447911123456"}]},
    )
    assert first.status_code == 201
    dup = await client.post(
        "/api/v1/contacts",
        headers=agent.headers,
        json={
            "name": "B",
            "identities": [
                {"kind": "email", "value": "b@example.com"},
                {"kind": "phone", "value": "+44 7911 123456"},
            ],
        },
    )
    assert dup.status_code == 409
    assert dup.json()["detail"][0]["loc"] == ["body", "identities"]
    # Nothing of the rejected request was stored: its e-mail is still free.
    found = await client.get(
        "/api/v1/contacts",
        params={"identity_kind": "email", "identity_value": "b@example.com"},
        headers=agent.headers,
    )
    assert found.json() == []


async def test_bad_input_is_422_naming_the_field(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    agent = await make_staff()
    bad_phone = await client.post(
        "/api/v1/contacts",
        headers=agent.headers,
        json={"identities": [{"kind": "phone", "value": "not a number"}]},
    )
    assert bad_phone.status_code == 422
    assert bad_phone.json()["detail"][0]["loc"][-1] == "value"
    bad_kind = await client.post(
        "/api/v1/contacts", headers=agent.headers, json={"identities": [{"kind": "pigeon", "value": "x"}]}
    )
    assert bad_kind.status_code == 422
    assert bad_kind.json()["detail"][0]["loc"][-1] == "kind"
    unknown_field = await client.post("/api/v1/contacts", headers=agent.headers, json={"nmae": "typo"})
    assert unknown_field.status_code == 422
    assert unknown_field.json()["detail"][0]["loc"] == ["body", "nmae"]
    listed = await client.get("/api/v1/contacts", headers=agent.headers)
    assert listed.json() == []


async def test_update_and_add_identity(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    agent = await make_staff()
    manager = await make_staff(Role.AGENT)
    cid = (await client.post("/api/v1/contacts", headers=agent.headers, json={"name": "Omar"})).json()["id"]
    patched = await client.patch(
        f"/api/v1/contacts/{cid}",
        headers=agent.headers,
        json={"is_vip": True, "personal_manager_id": manager.id, "language": "ar", "name": "عمر"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["is_vip"] is True
    assert patched.json()["name"] == "عمر"
    missing_manager = await client.patch(
        f"/api/v1/contacts/{cid}",
        headers=agent.headers,
        json={"personal_manager_id": 999999, "name": "changed"},
    )
    assert missing_manager.status_code == 404
    assert (await client.get(f"/api/v1/contacts/{cid}", headers=agent.headers)).json()["name"] == "عمر"
    added = await client.post(
        f"/api/v1/contacts/{cid}/identities",
        headers=agent.headers,
        json={"kind": "whatsapp", "value": "971501234567"},
    )
    assert added.status_code == 201
    assert ("whatsapp", "971501234567") in {(i["kind"], i["value"]) for i in added.json()["identities"]}


async def test_merge_moves_identities_and_conversations_and_is_recorded(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff()
    target = (
        await client.post(
            "/api/v1/contacts",
            headers=agent.headers,
            json={
                "name": "Anna",
                "tags": ["a"],
                "attributes": {"tier": "gold"},
                "identities": [{"kind": "email", "value": "anna@example.com"}],
            },
        )
    ).json()
    source = (
        await client.post(
            "/api/v1/contacts",
            headers=agent.headers,
            json={
                "is_vip": True,
                "tags": ["b"],
                "attributes": {"tier": "x", "city": "Omsk"},
                "identities": [{"kind": "telegram", "value": "777"}],
            },
        )
    ).json()
    merged = await client.post(
        f"/api/v1/contacts/{target['id']}/merge",
        headers=agent.headers,
        json={"source_contact_id": source["id"]},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged_by_id"] == agent.id
    after = (await client.get(f"/api/v1/contacts/{target['id']}", headers=agent.headers)).json()
    assert {i["value"] for i in after["identities"]} == {"anna@example.com", "777"}
    assert after["is_vip"] is True
    assert after["tags"] == ["a", "b"]
    assert after["attributes"] == {"tier": "gold", "city": "Omsk"}
    gone = (await client.get(f"/api/v1/contacts/{source['id']}", headers=agent.headers)).json()
    assert gone["merged_into_id"] == target["id"]
    assert gone["identities"] == []
    again = await client.post(
        f"/api/v1/contacts/{target['id']}/merge",
        headers=agent.headers,
        json={"source_contact_id": source["id"]},
    )
    assert again.status_code == 422
    self_merge = await client.post(
        f"/api/v1/contacts/{target['id']}/merge",
        headers=agent.headers,
        json={"source_contact_id": target["id"]},
    )
    assert self_merge.status_code == 422
