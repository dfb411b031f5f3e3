"""A key signature misread on one staff is outvoted by its part and its system
(reading.vote_key_signatures); transposing parts and key changes are left alone."""
from __future__ import annotations

from detector.reconstruct.music import Part, StaffMusic
from detector.reconstruct.reading import vote_key_signatures


def page(keys: list[list[int]]) -> list[Part]:
    """Parts of one staff each; ``keys[system][part]`` = the key read there (fifths)."""
    parts = [Part(id=f"P{p + 1}", staff_count=1) for p in range(len(keys[0]))]
    index = 0
    for system in keys:
        for part, fifths in zip(parts, system):
            part.systems.append([StaffMusic(index=index, staff=None, fifths=fifths)])
            index += 1
    return parts


def test_a_missed_flat_is_outvoted_by_the_part_and_the_system() -> None:
    # the README page: the double bass (6th part) reads 2 flats in system 1, 3 in system 2
    parts = page([[-3, -3, -3, -3, -3, -2], [-3, -3, -3, -3, -3, -3]])
    assert vote_key_signatures(parts) == {5: -3}


def test_a_transposing_part_keeps_its_key() -> None:
    # a clarinet in B-flat (2 fifths above the others) in every system, even on a page of one system
    assert vote_key_signatures(page([[-3, -1, -3], [-3, -1, -3], [-3, -1, -3]])) == {}
    assert vote_key_signatures(page([[-3, -1, -3]])) == {}


def test_a_key_change_at_a_system_start_is_read_as_written() -> None:
    # every staff changes from 3 flats to 2 sharps in the third system (a transposing part too)
    keys = [[-3, -1, -3], [-3, -1, -3], [2, 4, 2], [2, 4, 2]]
    assert vote_key_signatures(page(keys)) == {}
    # ... while one staff missing a sharp after the change is corrected
    keys[3][2] = 1
    assert vote_key_signatures(page(keys)) == {11: 2}


def test_a_page_of_one_system_is_never_changed() -> None:
    assert vote_key_signatures(page([[-3, -3, -2, -3]])) == {}
