"""The handbook's trust rules (H1-H9) as pure functions: editor-list chains, revocation by feed
position, rival lists, and the current revision among concurrent edits."""

from __future__ import annotations

import random

from tequio.plugins.handbook.authority import EditorList, Signed, fold_lists, heads, verdict

BOOK = b"B" * 32
A, B, C, D = (bytes([i]) * 32 for i in range(1, 5))


def _lst(
    lid: bytes, author: bytes, seq: int, prev: bytes | None, edit=(), keep=(), approve=(), revoked=()
) -> EditorList:
    return EditorList(
        Signed(lid, author, seq),
        prev,
        {"edit": frozenset(edit), "keep": frozenset(keep), "approve": frozenset(approve)},
        tuple((k, upto, frozenset(rights)) for k, upto, rights in revoked),
    )


def book(edit=(A, B), keep=(A,)) -> EditorList:
    return _lst(BOOK, A, 1, None, edit=edit, keep=keep)


def test_an_editor_of_the_book_is_trusted_and_a_stranger_is_not() -> None:
    auth = fold_lists(book(), [])
    assert verdict(auth, Signed(b"r1" * 16, B, 5), BOOK, "edit")[0] == "trusted"
    st, why = verdict(auth, Signed(b"r2" * 16, C, 5), BOOK, "edit")
    assert st == "untrusted" and why.startswith("H7:") and "not an editor" in why
    # Naming a list that does not exist (or is not held yet) waits, it is never served.
    assert verdict(auth, Signed(b"r3" * 16, B, 5), b"?" * 32, "edit")[0] == "waiting"


def test_revocation_cuts_at_the_feed_position_it_names() -> None:
    l1 = _lst(b"L1" * 16, A, 2, BOOK, edit=(A,), keep=(A,), revoked=[(B, 7, ["edit"])])
    auth = fold_lists(book(), [l1])
    assert auth.current.rec.id == l1.rec.id
    # B's revision at seq 7 (before the cut) still relies on the book's list: trusted.
    assert verdict(auth, Signed(b"r" * 32, B, 7), BOOK, "edit")[0] == "trusted"
    st, why = verdict(auth, Signed(b"s" * 32, B, 8), BOOK, "edit")
    assert st == "untrusted" and why.startswith("H5:") and "seq 8" in why
    # ...and naming the new list does not help: B is not an editor there.
    assert verdict(auth, Signed(b"t" * 32, B, 9), l1.rec.id, "edit")[0] == "untrusted"


def test_a_later_list_can_grant_the_right_again() -> None:
    l1 = _lst(b"L1" * 16, A, 2, BOOK, edit=(A,), keep=(A,), revoked=[(B, 7, ["edit"])])
    l2 = _lst(b"L2" * 16, A, 3, l1.rec.id, edit=(A, B), keep=(A,))
    auth = fold_lists(book(), [l2, l1])
    assert verdict(auth, Signed(b"r" * 32, B, 20), l2.rec.id, "edit")[0] == "trusted"
    # An old revision naming the first list after the cut stays untrusted.
    assert verdict(auth, Signed(b"s" * 32, B, 9), BOOK, "edit")[0] == "untrusted"


def test_only_a_keeper_of_the_previous_list_may_publish_the_next() -> None:
    forged = _lst(b"F1" * 16, C, 1, BOOK, edit=(A, B, C), keep=(A, C))
    auth = fold_lists(book(), [forged])
    assert auth.current.rec.id == BOOK
    assert auth.rejected[forged.rec.id].startswith("H3:")
    assert verdict(auth, Signed(b"r" * 32, C, 2), forged.rec.id, "edit")[0] == "untrusted"


def test_dropping_a_key_without_saying_up_to_where_is_refused() -> None:
    silent = _lst(b"S1" * 16, A, 2, BOOK, edit=(A,), keep=(A,))
    auth = fold_lists(book(), [silent])
    assert auth.rejected[silent.rec.id].startswith("H6:")


def test_a_revoked_keeper_cannot_publish_lists_after_its_cut_even_on_a_rival_branch() -> None:
    b0 = book(edit=(A, B), keep=(A, B))
    # A revokes B's keep right up to seq 4; B, after that, publishes a rival list from the book
    # giving C the edit right. Whatever the ids, B's list is rejected and C untrusted.
    for seed in range(20):
        rnd = random.Random(seed)
        honest = _lst(rnd.randbytes(32), A, 3, BOOK, edit=(A,), keep=(A,), revoked=[(B, 4, ["edit", "keep"])])
        rival = _lst(rnd.randbytes(32), B, 6, BOOK, edit=(A, B, C), keep=(A, B))
        lists = [honest, rival]
        rnd.shuffle(lists)
        auth = fold_lists(b0, lists)
        assert rival.rec.id in auth.rejected and auth.rejected[rival.rec.id].startswith("H5:")
        assert verdict(auth, Signed(b"c" * 32, C, 1), rival.rec.id, "edit")[0] == "untrusted"
        assert auth.current.rec.id == honest.rec.id


def test_lists_wait_for_the_list_they_follow() -> None:
    l1 = _lst(b"L1" * 16, A, 2, BOOK, edit=(A, B, C), keep=(A,))
    l2 = _lst(b"L2" * 16, A, 3, l1.rec.id, edit=(A, B, C, D), keep=(A,))
    auth = fold_lists(book(), [l2])
    assert (
        l2.rec.id in auth.waiting
        and verdict(auth, Signed(b"r" * 32, D, 1), l2.rec.id, "edit")[0] == "waiting"
    )
    auth = fold_lists(book(), [l2, l1])
    assert auth.current.rec.id == l2.rec.id and not auth.waiting


def test_the_result_does_not_depend_on_arrival_order() -> None:
    l1 = _lst(b"L1" * 16, A, 2, BOOK, edit=(A, C), keep=(A, C), revoked=[(B, 3, ["edit"])])
    l2 = _lst(b"L2" * 16, C, 5, l1.rec.id, edit=(A, C, D), keep=(A, C))
    l3 = _lst(b"L3" * 16, D, 2, l2.rec.id, edit=(A,), keep=(A,))  # D is no keeper: rejected
    views = set()
    for seed in range(10):
        lists = [l1, l2, l3]
        random.Random(seed).shuffle(lists)
        auth = fold_lists(book(), lists)
        views.add((auth.current.rec.id, tuple(sorted(auth.rejected)), tuple(sorted(auth.accepted))))
    assert len(views) == 1
    (current, rejected, _accepted) = views.pop()
    assert current == l2.rec.id and rejected == (l3.rec.id,)


def test_the_current_revision_is_the_end_of_the_longest_chain() -> None:
    r1, r2, r3, r4 = (bytes([i]) * 32 for i in (1, 2, 3, 4))
    assert heads({r1: None}) == [r1]
    assert heads({r1: None, r2: r1}) == [r2]
    # Two concurrent edits of r2: the same winner everywhere (the smaller id), both listed.
    assert heads({r1: None, r2: r1, r4: r2, r3: r2}) == [r3, r4]
    # An edit that merges by replacing one head wins by its longer history.
    r5 = bytes([5]) * 32
    assert heads({r1: None, r2: r1, r3: r2, r4: r2, r5: r4})[0] == r5
