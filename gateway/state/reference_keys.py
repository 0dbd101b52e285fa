"""Reference model of the runtime key and team records: lua/key_write.lua, lua/team_write.lua,
and the check admit makes of a runtime key's record (revoked, expired, stale, rotation grace).

A mixin of :class:`gateway.state.reference.StateModel`, which holds the records
(`key_records`, `teams`), the hash index (`key_index`) and the audit entries (`audit`).
"""

from __future__ import annotations

import json

KEY_FIELDS = frozenset(("name", "team", "models", "rpm", "tpm", "daily_micro", "monthly_micro", "priority",
                        "default_task", "expires_us", "metadata"))
TEAM_FIELDS = frozenset(("rpm", "tpm", "daily_micro", "monthly_micro", "metadata"))
SECRET_FIELDS = frozenset(("hash", "old_hash"))


def public(rec: dict[str, str] | None) -> dict[str, str] | None:
    """A key record without its hashes: what the audit stream and the admin API show."""
    if rec is None:
        return None
    return {f: v for f, v in rec.items() if f not in SECRET_FIELDS}


class KeyRecordsModel:
    key_records: dict[str, dict[str, str]]
    teams: dict[str, dict[str, str]]
    key_index: dict[str, str]
    audit: list[dict]

    def key_refusal(self, key_id: str, version: int, old: bool, now: int) -> str:
        """Admit's first check of a runtime key: '' (go on), 'key_revoked' or 'stale'."""
        r = self.key_records.get(key_id)
        if r is None or r.get("revoked") == "1":
            return "key_revoked"
        if int(r["version"]) != version:
            return "stale"
        if int(r.get("expires_us") or 0) > 0 and now >= int(r["expires_us"]):
            return "key_revoked"
        if old and now >= int(r.get("old_until_us") or 0):
            return "key_revoked"
        return ""

    def key_write(self, op: str, key_id: str, actor: str, new_hash: str, grace_ms: int, seen_team: str,
                  fields: dict[str, str], now: int) -> tuple[str, int]:
        assert set(fields) <= KEY_FIELDS
        rec = self.key_records.get(key_id)
        if op == "create" and rec is not None:
            return "exists", int(rec["version"])
        if op != "create" and rec is None:
            return "not_found", 0
        if op != "create" and rec["revoked"] == "1":
            return "revoked", int(rec["version"])
        old = dict(rec or {})
        if old.get("team", "") != ("" if seen_team == "-" else seen_team):
            return "retry", 0
        team_before = old.get("team", "")
        team_after = fields.get("team", team_before)
        if team_after != team_before and team_after and team_after not in self.teams:
            return "no_team", 0
        version = int(old.get("version", 0)) + 1
        new = dict(old, **fields, version=str(version), updated_us=str(now))
        if op == "create":
            new.update(created_us=str(now), revoked="0", hash=new_hash)
            self.key_index[new_hash] = key_id
        elif op == "rotate":
            if "old_hash" in old:
                self.key_index.pop(old["old_hash"], None)
            if grace_ms > 0:
                new.update(old_hash=old["hash"], old_until_us=str(now + grace_ms * 1000))
            else:
                self.key_index.pop(old["hash"], None)
                new.pop("old_hash", None)
                new.pop("old_until_us", None)
            new["hash"] = new_hash
            self.key_index[new_hash] = key_id
        elif op == "revoke":
            new["revoked"] = "1"
            self.key_index.pop(old["hash"], None)
            if "old_hash" in old:
                self.key_index.pop(old["old_hash"], None)
            team_after = ""
        self.key_records[key_id] = new
        if team_after != team_before:
            for t, d in ((team_before, -1), (team_after, 1)):
                if t:
                    h = self.teams.setdefault(t, {})
                    h["keys"] = str(int(h.get("keys", 0)) + d)
        self.audit.append(dict(actor=actor, op=f"key.{op}", id=key_id, before=public(rec), after=public(new)))
        return "ok", version

    def team_write(self, op: str, team: str, actor: str, fields: dict[str, str], now: int) -> tuple[str, int]:
        assert set(fields) <= TEAM_FIELDS
        rec = self.teams.get(team)
        exists = rec is not None and "version" in rec
        if op == "create" and exists:
            return "exists", int(rec["version"])
        if op != "create" and not exists:
            return "not_found", 0
        if op == "delete" and int(rec.get("keys", 0)) > 0:
            return "in_use", int(rec["version"])
        version = int((rec or {}).get("version", 0)) + 1
        after = None
        if op == "delete":
            del self.teams[team]
        else:
            new = dict(rec or {}, **fields, version=str(version), updated_us=str(now))
            if op == "create":
                new.update(created_us=str(now), keys="0")
            self.teams[team] = after = new
        self.audit.append(dict(actor=actor, op=f"team.{op}", id=team, before=dict(rec) if exists else None,
                               after=dict(after) if after else None))
        return "ok", version


def audit_entry(fields: dict[str, str]) -> dict:
    """One entry of the engine's audit stream in the model's form (before/after decoded)."""
    return dict(actor=fields["actor"], op=fields["op"], id=fields["id"], before=json.loads(fields["before"]),
                after=json.loads(fields["after"]))
