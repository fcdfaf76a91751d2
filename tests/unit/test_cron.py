"""Cron schedules: parsing, the API's validation and cron_next_ex, and the tick that
fires each period exactly once (driven here with an injected clock)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from actors_core.cron import CronError, parse
from actors_core.times import isoformat, utcnow
from spawner import cron

T0 = datetime(2026, 3, 10, 14, 25, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, first, second", [
    ("now + 1 hour", "2026-03-10 14:00", "2026-03-10 15:00"),
    ("2026-03-10 16 + 2 hours", "2026-03-10 16:00", "2026-03-10 18:00"),
    ("2026-01-01 00 + 1 day", "2026-03-11 00:00", "2026-03-12 00:00"),  # past start: from now on
    ("2026-03-01 9 + 1 week", "2026-03-15 09:00", "2026-03-22 09:00"),
    ("2025-01-31 10 + 1 month", "2026-03-31 10:00", "2026-04-30 10:00"),  # clamped, no drift
    ("NOW + 3 Days", "2026-03-10 14:00", "2026-03-13 14:00"),
])
def test_schedules_fire_at_start_then_each_period(text, first, second):
    schedule = parse(text)
    at = schedule.first(T0)
    following = schedule.next_after(at, T0)
    assert at.strftime("%Y-%m-%d %H:%M") == first
    assert following.strftime("%Y-%m-%d %H:%M") == second


def test_missed_periods_are_skipped_not_fired_in_a_burst():
    schedule = parse("2026-03-10 00 + 1 hour")
    fired = datetime(2026, 3, 10, 3, tzinfo=timezone.utc)
    assert schedule.next_after(fired, fired + timedelta(hours=5, minutes=1)) == \
        datetime(2026, 3, 10, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, problem", [
    ("now", "not a cron schedule"),
    ("tomorrow + 1 hour", "not a cron schedule"),
    ("now + 1 minute", "'minute' is not a unit"),
    ("now + 0 hours", "at least 1"),
    ("2026-02-30 10 + 1 day", "not a date and hour"),
    ("2026-02-01 25 + 1 day", "not a date and hour"),
])
def test_bad_schedules_say_how_to_write_one(text, problem):
    with pytest.raises(CronError, match=problem):
        parse(text)


def test_the_api_refuses_a_bad_schedule_with_400(http, alice):
    response = http.post("/actors", headers=alice,
                         json={"image": "x/y", "cron_schedule": "every hour"})
    assert response.status_code == 400
    assert "cron_schedule" in response.json["message"]
    assert "YYYY-MM-DD HH" in response.json["message"]


def test_registering_sets_cron_next_ex_and_a_put_keeps_it(http, alice, store):
    actor = http.post("/actors", headers=alice,
                      json={"image": "x/y", "cron_schedule": "now + 1 hour"}).json["result"]
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    assert actor["cron_on"] is True and actor["cron_next_ex"] == isoformat(hour)
    assert store.cron.due(hour.timestamp()) == [actor["id"]]

    store.actors.update(actor["id"], cron_next_ex=isoformat(hour + timedelta(hours=1)))
    kept = http.put(f"/actors/{actor['id']}", headers=alice,
                    json={"image": "x/y", "cron_schedule": "now + 1 hour",
                          "description": "changed"}).json["result"]
    assert kept["cron_next_ex"] == isoformat(hour + timedelta(hours=1))

    off = http.put(f"/actors/{actor['id']}", headers=alice,
                   json={"image": "x/y", "cron_schedule": "now + 1 hour", "cron_on": False})
    assert off.json["result"]["cron_on"] is False
    assert store.cron.due(utcnow().timestamp() + 7200) == []

    cleared = http.put(f"/actors/{actor['id']}", headers=alice, json={"image": "x/y"})
    assert cleared.json["result"]["cron_schedule"] is None
    assert cleared.json["result"]["cron_next_ex"] is None


def _cron_actor(http, alice, schedule="now + 1 hour"):
    return http.post("/actors", headers=alice,
                     json={"image": "x/y", "cron_schedule": schedule}).json["result"]


def test_the_tick_fires_each_period_once(http, alice, store):
    actor = _cron_actor(http, alice)
    hour = utcnow().replace(minute=0, second=0, microsecond=0)

    first = cron.tick(store, now=hour + timedelta(minutes=1))
    assert len(first) == 1
    assert cron.tick(store, now=hour + timedelta(minutes=2)) == []  # same period: nothing
    execution = store.executions.get_internal(first[0])
    assert execution["content_type"] == "str"
    assert execution["environment"] == {"_abaco_cron": "true"}
    assert execution["executor"] == "alice"
    assert store.executions.message_body(first[0]) == isoformat(hour).encode()
    assert store.actors.get(actor["id"])["cron_next_ex"] == isoformat(hour + timedelta(hours=1))

    assert len(cron.tick(store, now=hour + timedelta(hours=1, seconds=1))) == 1
    assert store.actors.get(actor["id"])["cron_next_ex"] == isoformat(hour + timedelta(hours=2))
    assert len(store.executions.ids_for_actor(actor["id"])) == 2


def test_a_future_start_does_not_fire_early_and_cron_off_never_fires(http, alice, store):
    later = _cron_actor(http, alice, "2099-01-01 00 + 1 day")
    off = _cron_actor(http, alice)
    http.put(f"/actors/{off['id']}", headers=alice,
             json={"image": "x/y", "cron_schedule": "now + 1 hour", "cron_on": False})
    assert cron.tick(store, now=utcnow() + timedelta(minutes=1)) == []
    assert store.executions.ids_for_actor(later["id"]) == []
    assert store.executions.ids_for_actor(off["id"]) == []


def test_several_spawners_ticking_at_once_fire_once(http, alice, store):
    actors = [_cron_actor(http, alice) for _ in range(5)]
    now = utcnow() + timedelta(minutes=1)
    results, barrier = [], threading.Barrier(4)

    def spawner():
        barrier.wait()
        results.extend(cron.tick(store, now=now))

    threads = [threading.Thread(target=spawner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5
    assert all(len(store.executions.ids_for_actor(a["id"])) == 1 for a in actors)


def test_the_compare_and_set_refuses_a_stale_value(http, alice, store):
    actor = _cron_actor(http, alice)
    seen = actor["cron_next_ex"]
    following = isoformat(utcnow() + timedelta(hours=1))
    assert store.cron.advance(actor["id"], seen, following) is True
    assert store.cron.advance(actor["id"], seen, following) is False  # a second spawner loses


def test_a_deleted_actor_leaves_the_index(http, alice, store):
    actor = _cron_actor(http, alice)
    http.delete(f"/actors/{actor['id']}", headers=alice)
    assert store.cron.due(utcnow().timestamp() + 3600) == []
    assert cron.tick(store, now=utcnow() + timedelta(hours=1)) == []


@pytest.mark.parametrize("text, first, stored", [
    # Abaco writes dates without zero padding
    ("2078-09-6 20 + 3 months", "2078-09-06 20:00", "2078-09-6 20 + 3 months"),
    ("2026-3-10 16 + 2 hours", "2026-03-10 16:00", "2026-3-10 16 + 2 hours"),
    # a form body turns '+' into a space: the schedule is stored with its '+' back
    ("2026-03-10 16   2 hours", "2026-03-10 16:00", "2026-03-10 16 + 2 hours"),
    ("2026-03-10 16 2 hours", "2026-03-10 16:00", "2026-03-10 16 + 2 hours"),
    ("now  1 hour", "2026-03-10 14:00", "now + 1 hour"),
])
def test_schedules_as_abaco_and_form_bodies_write_them(text, first, stored):
    from actors_core.cron import normalize

    assert parse(text).first(T0).strftime("%Y-%m-%d %H:%M") == first
    assert normalize(text) == stored


def test_a_form_body_with_a_plus_is_accepted_as_curl_sends_it(http, alice):
    """``curl -d "cron_schedule=2026-12-01 08 + 1 day"``: the '+' arrives as a space."""
    response = http.post("/actors", headers=alice, data="image=x/y&cron_schedule=2026-12-01 08 + 1 day",
                         content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.json
    assert response.json["result"]["cron_schedule"] == "2026-12-01 08 + 1 day"
    padded = http.post("/actors", headers=alice,
                       data={"image": "x/y", "cron_schedule": "2078-09-6 20 + 3 months"})
    assert padded.status_code == 200, padded.json
    assert padded.json["result"]["cron_next_ex"] .startswith("2078-09-06T20:00:00")
