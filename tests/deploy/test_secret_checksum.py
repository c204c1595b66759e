"""The pods' checksum/secret annotation covers what they read from the chart-managed Secret, generated keys
included.

Environment variables from a Secret are read when a container starts. The checksum was one of the values alone, so
keys the chart generated anew (the Secret deleted by hand, as docs/operations.md suggests to start afresh, then
`helm upgrade`) did not roll any pod: the running ones kept the old keys and the ones restarted later took the new
ones; the notifier then refused the provider callbacks the submitter had signed, and the web service the meeting
links the notifier had signed. `helm template` has no Secret to look up, so each rendering generates new keys: the
stand-in here for an upgrade that finds none.
"""

from __future__ import annotations

import hashlib

from tests.deploy.helm_chart import DEFAULT_SERVICES, Rendered, parse, run_helm, template_args

FIXED_KEYS = {"secrets.callbackSecret": "c" * 48, "secrets.pageKey": "p" * 48}
SECRET = "zs-zoomsymbl-secrets"


def fresh_render(sets: dict[str, str] | None = None) -> Rendered:
    """A new rendering (not the cached one of helm_chart.render): new generated keys each time."""
    return Rendered(parse(run_helm(template_args(sets=sets)).stdout))


def checksums(rendered: Rendered) -> dict[str, str]:
    return {
        c: rendered.one("Deployment", c)["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
        for c in DEFAULT_SERVICES
    }


def test_newly_generated_keys_roll_every_pod() -> None:
    first, second = fresh_render(), fresh_render()
    assert first.secret_data(SECRET)["page-key"] != second.secret_data(SECRET)["page-key"]
    assert first.secret_data(SECRET)["callback-secret"] != second.secret_data(SECRET)["callback-secret"]
    before, after = checksums(first), checksums(second)
    assert len(set(before.values())) == 1 and len(set(after.values())) == 1
    assert set(before.values()) != set(after.values())


def test_the_checksum_is_that_of_the_secret_the_same_rendering_writes() -> None:
    """The keys are generated once per rendering: the Secret holds the ones the checksum was taken over."""
    rendered = fresh_render()
    data = rendered.named("Secret", SECRET)["data"]
    block = "\n".join(f'{key}: "{value}"' for key, value in data.items())
    assert set(checksums(rendered).values()) == {hashlib.sha256(block.encode()).hexdigest()}


def test_unchanged_keys_do_not_roll_the_pods() -> None:
    """Keys given (or found in the cluster on upgrade) give the same checksum each time: no needless roll."""
    assert checksums(fresh_render(FIXED_KEYS)) == checksums(fresh_render(FIXED_KEYS))
    changed = fresh_render(FIXED_KEYS | {"secrets.pageKey": "q" * 48})
    assert set(checksums(changed).values()).isdisjoint(checksums(fresh_render(FIXED_KEYS)).values())


def test_an_existing_secret_keeps_its_checksum_of_the_values() -> None:
    values = {"secrets.existingSecret": "zoomsymbl-credentials"}
    assert checksums(fresh_render(values)) == checksums(fresh_render(values))
