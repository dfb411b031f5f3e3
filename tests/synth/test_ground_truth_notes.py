"""Given a generated page, its notes JSON links each note to its notehead box and MEI note."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

NOTE_KEYS = {"ann_id", "mei_id", "staff", "measure", "order", "onset_quarters", "step", "octave", "alter",
             "dur_quarters", "dots", "rest", "chord", "grace", "voice"}
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"


def test_notes_link_to_notehead_annotations_and_mei(synthetic_dataset):
    for split in ("train", "test"):
        doc = json.loads((synthetic_dataset / f"deepscores_{split}.json").read_text())
        names = {k: v["name"] for k, v in doc["categories"].items()}
        for image in doc["images"]:
            stem = image["filename"].rsplit(".", 1)[0]
            music = json.loads((synthetic_dataset / "music" / f"{stem}.json").read_text())
            mei_ids = {el.get(XML_ID) for el in ET.parse(synthetic_dataset / "music" / f"{stem}.mei").iter()}
            page_anns = set(image["ann_ids"])
            staff_count = sum(names[doc["annotations"][a]["cat_id"][0]] == "staff" for a in page_anns)
            assert music["image"] == image["filename"]
            assert [s["index"] for s in music["staves"]] == list(range(staff_count))
            pitched = [n for n in music["notes"] if not n["rest"]]
            assert len(pitched) > 5
            for note in music["notes"]:
                # then: exact keys, a box on this page of the right kind, the MEI note, a staff
                assert set(note) == NOTE_KEYS
                assert note["ann_id"] in page_anns and note["mei_id"] in mei_ids
                ann = doc["annotations"][note["ann_id"]]
                kind = names[ann["cat_id"][0]]
                assert kind.startswith("rest") if note["rest"] else kind.startswith("notehead")
                assert ann["comments"] == f"mei:{note['mei_id']}"
                assert 0 <= note["staff"] < staff_count
                assert (note["step"] is None) == note["rest"]
                assert note["dur_quarters"] > 0 or note["grace"]


def test_online_inspace_agrees_with_the_staff_geometry(synthetic_dataset):
    # given: every notehead of a note with its staff band (top line y0 .. bottom line y1)
    agree, total = 0, 0
    for split in ("train", "test"):
        doc = json.loads((synthetic_dataset / f"deepscores_{split}.json").read_text())
        names = {k: v["name"] for k, v in doc["categories"].items()}
        for image in doc["images"]:
            stem = image["filename"].rsplit(".", 1)[0]
            music = json.loads((synthetic_dataset / "music" / f"{stem}.json").read_text())
            for note in music["notes"]:
                if note["rest"]:
                    continue
                ann = doc["annotations"][note["ann_id"]]
                staff = music["staves"][note["staff"]]
                half_space = (staff["y1"] - staff["y0"]) / 8
                centre = (ann["a_bbox"][1] + ann["a_bbox"][3]) / 2
                # when: its staff position is recomputed from the staff box alone
                position = round((staff["y1"] - centre) / half_space)
                # then: even positions are the OnLine classes, odd ones InSpace
                agree += ("OnLine" in names[ann["cat_id"][0]]) == (position % 2 == 0)
                total += 1
    assert total > 100
    assert agree / total >= 0.98, f"{agree}/{total} noteheads agree with the staff geometry"
