"""Tests for bbselect.inputs.annotations and its per-format parsers (inputs/yolo.py, voc.py, coco.py).

Every fixture is written by hand in tmp_path; the expected normalised boxes are
worked out in the comments next to them.
"""

import json

import pytest

from bbselect.errors import UsageError
from bbselect.inputs.annotations import detect_format, load_boxes
from bbselect.inputs.boxmodel import Box
from bbselect.inputs.voc import parse_voc
from bbselect.inputs.yolo import parse_yolo


def touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")  # image content is never read
    return p


def write(p, text):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def assert_boxes(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.label == e[4]
        assert (g.x0, g.y0, g.x1, g.y1) == pytest.approx(e[:4], abs=1e-12)


# --------------------------------------------------------------------------
# YOLO
# --------------------------------------------------------------------------

@pytest.fixture
def yolo_tree(tmp_path):
    """images/train/{a,b,c}.jpg with labels in the parallel labels/train folder."""
    root = tmp_path / "images"
    for name in ("a", "b", "c"):
        touch(root / "train" / f"{name}.jpg")
    write(tmp_path / "labels" / "train" / "a.txt",
          "0 0.5 0.5 0.2 0.4\n"          # x 0.4..0.6, y 0.3..0.7
          "1 0.1 0.1 0.4 0.4\n"          # x -0.1..0.3 -> clamped 0..0.3, y likewise
          "\n"
          "2 0.1 0.2 0.3 0.2 0.2 0.6\n")  # triangle -> x 0.1..0.3, y 0.2..0.6
    write(tmp_path / "labels" / "train" / "b.txt", "")   # annotated, no objects
    rels = ["train/a.jpg", "train/b.jpg", "train/c.jpg"]
    sizes = {r: (640, 480) for r in rels}
    return root, rels, sizes


def test_yolo_parallel_labels_folder(yolo_tree):
    root, rels, sizes = yolo_tree
    bs = load_boxes(root, rels, sizes)
    assert bs.format == "yolo"
    assert_boxes(bs.boxes["train/a.jpg"], [(0.4, 0.3, 0.6, 0.7, "0"),
                                           (0.0, 0.0, 0.3, 0.3, "1"),
                                           (0.1, 0.2, 0.3, 0.6, "2")])
    assert bs.boxes["train/b.jpg"] == []
    assert bs.missing == ["train/c.jpg"]
    assert "train/c.jpg" not in bs.boxes
    assert bs.n_boxes == 3


def test_yolo_beside_image_with_class_names(tmp_path):
    touch(tmp_path / "x.png")
    write(tmp_path / "x.txt", "1 0.25 0.75 0.5 0.5\n")    # x 0..0.5, y 0.5..1
    write(tmp_path / "classes.txt", "cat\ndog\n")
    bs = load_boxes(tmp_path, ["x.png"], {"x.png": (10, 10)})
    assert_boxes(bs.boxes["x.png"], [(0.0, 0.5, 0.5, 1.0, "dog")])


def test_yolo_explicit_source_folder(tmp_path):
    touch(tmp_path / "imgs" / "s" / "x.jpg")
    write(tmp_path / "elsewhere" / "s" / "x.txt", "3 0.5 0.5 1 1\n")
    bs = load_boxes(tmp_path / "imgs", ["s/x.jpg"], {"s/x.jpg": (5, 5)},
                    source=tmp_path / "elsewhere")
    assert bs.format == "yolo"
    assert_boxes(bs.boxes["s/x.jpg"], [(0.0, 0.0, 1.0, 1.0, "3")])


@pytest.mark.parametrize("text, part", [
    ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n", "line 2"),                 # 4 fields
    ("0 0.5 0.5 0.2 0.2\n\ncat 0.5 0.5 0.2 0.2\n", "line 3"),        # class not an int
    ("0 320 240 50 60\n", "pixel coordinates"),                        # not normalised
    ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.2\n", "line 2: box has zero"),  # zero width
    ("0 0.5 0.5 0.2 0.2 0.9\n", "6 fields"),
])
def test_yolo_malformed(tmp_path, text, part):
    f = write(tmp_path / "bad.txt", text)
    with pytest.raises(UsageError) as ei:
        parse_yolo(f)
    assert "bad.txt" in str(ei.value) and part in str(ei.value)


def test_yolo_class_id_beyond_names(tmp_path):
    f = write(tmp_path / "l.txt", "0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n")
    with pytest.raises(UsageError, match=r"l\.txt, line 2: class id 5"):
        parse_yolo(f, names=["a", "b"])


# --------------------------------------------------------------------------
# Pascal VOC
# --------------------------------------------------------------------------

VOC = """<annotation>
  <filename>{name}</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  <object>
    <name>cat</name>
    <bndbox><xmin>21</xmin><ymin>11</ymin><xmax>60</xmax><ymax>50</ymax></bndbox>
  </object>
  <object>
    <name>dog</name>
    <bndbox><xmin>181</xmin><ymin>1</ymin><xmax>220</xmax><ymax>100</ymax></bndbox>
  </object>
</annotation>
"""
# 200 x 100 image, VOC 1-based inclusive pixels -> edges [xmin - 1, xmax]:
#   cat: x (21-1)/200 = 0.1 .. 60/200 = 0.3, y (11-1)/100 = 0.1 .. 50/100 = 0.5
#   dog: x 180/200 = 0.9 .. 220/200 = 1.1 -> clamped 1.0, y 0/100 = 0 .. 100/100 = 1
VOC_EXPECTED = [(0.1, 0.1, 0.3, 0.5, "cat"), (0.9, 0.0, 1.0, 1.0, "dog")]


def test_voc_beside_images(tmp_path):
    touch(tmp_path / "p" / "a.jpg")
    touch(tmp_path / "p" / "b.jpg")
    write(tmp_path / "p" / "a.xml", VOC.format(name="a.jpg", w=200, h=100))
    rels = ["p/a.jpg", "p/b.jpg"]
    bs = load_boxes(tmp_path, rels, {r: (200, 100) for r in rels})
    assert bs.format == "voc"
    assert_boxes(bs.boxes["p/a.jpg"], VOC_EXPECTED)
    assert bs.missing == ["p/b.jpg"]


def test_voc_in_annotations_folder(tmp_path):
    touch(tmp_path / "a.jpg")
    write(tmp_path / "Annotations" / "a.xml", VOC.format(name="a.jpg", w=200, h=100))
    bs = load_boxes(tmp_path, ["a.jpg"], {"a.jpg": (200, 100)})
    assert bs.format == "voc" and bs.missing == []
    assert_boxes(bs.boxes["a.jpg"], VOC_EXPECTED)


def test_voc_rescaled_annotation_uses_declared_frame(tmp_path):
    # drawn on a 200x100 copy of a 400x200 image: same normalised boxes, plus a note
    f = write(tmp_path / "a.xml", VOC.format(name="a.jpg", w=200, h=100))
    notes = []
    assert_boxes(parse_voc(f, (400, 200), notes), VOC_EXPECTED)
    assert notes and "rescaled" in notes[0]


def test_voc_transposed_size_is_exif_error(tmp_path):
    f = write(tmp_path / "a.xml", VOC.format(name="a.jpg", w=100, h=200))
    with pytest.raises(UsageError, match="EXIF"):
        parse_voc(f, (200, 100))


def test_voc_missing_coordinate_names_element(tmp_path):
    text = VOC.format(name="a.jpg", w=200, h=100).replace("<xmax>220</xmax>", "")
    f = write(tmp_path / "broken.xml", text)
    with pytest.raises(UsageError) as ei:
        parse_voc(f, (200, 100))
    assert "broken.xml" in str(ei.value)
    assert "annotation/object[2]/bndbox/xmax" in str(ei.value)


def test_voc_bad_xml_names_line(tmp_path):
    text = VOC.format(name="a.jpg", w=200, h=100).replace("<name>dog</name>", "<name>dog")
    f = write(tmp_path / "broken.xml", text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "<name>dog" in ln)
    with pytest.raises(UsageError) as ei:
        parse_voc(f, (200, 100))
    # expat reports the mismatch at the first closing tag that does not match
    assert "broken.xml, line " in str(ei.value)
    reported = int(str(ei.value).split("line ")[1].split(":")[0])
    assert line <= reported <= line + 2


def test_voc_box_outside_image(tmp_path):
    text = VOC.format(name="a.jpg", w=200, h=100).replace(
        "<xmin>181</xmin>", "<xmin>301</xmin>").replace("<xmax>220</xmax>", "<xmax>320</xmax>")
    f = write(tmp_path / "out.xml", text)
    with pytest.raises(UsageError, match=r"out\.xml: annotation/object\[2\]/bndbox: box lies outside"):
        parse_voc(f, (200, 100))


def test_voc_negative_size_box(tmp_path):
    text = VOC.format(name="a.jpg", w=200, h=100).replace("<xmax>60</xmax>", "<xmax>10</xmax>")
    f = write(tmp_path / "neg.xml", text)
    with pytest.raises(UsageError, match=r"object\[1\]/bndbox: box has zero or negative size"):
        parse_voc(f, (200, 100))


# --------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------

def coco_doc():
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "val/sub/b.jpg", "width": 50, "height": 40},
            {"id": 3, "file_name": "not_here.jpg", "width": 10, "height": 10},
        ],
        "annotations": [
            # [x, y, w, h] = [20, 10, 40, 40] on 200x100 -> 0.1, 0.1, 0.3, 0.5
            {"id": 10, "image_id": 1, "category_id": 5, "bbox": [20, 10, 40, 40]},
            # [25, 0, 25, 20] on 50x40 -> 0.5, 0, 1.0, 0.5
            {"id": 11, "image_id": 2, "category_id": 7, "bbox": [25, 0, 25, 20]},
            {"id": 12, "image_id": 3, "category_id": 5, "bbox": [1, 1, 2, 2]},
        ],
        "categories": [{"id": 5, "name": "person"}, {"id": 7, "name": "bike"}],
    }


@pytest.fixture
def coco_tree(tmp_path):
    rels = ["a.jpg", "sub/b.jpg", "c.jpg", "d.jpg"]
    for r in rels:
        touch(tmp_path / r)
    doc = coco_doc()
    doc["images"].append({"id": 4, "file_name": "d.jpg", "width": 30, "height": 30})
    write(tmp_path / "annotations" / "instances.json", json.dumps(doc, indent=1))
    sizes = {"a.jpg": (200, 100), "sub/b.jpg": (50, 40), "c.jpg": (9, 9), "d.jpg": (30, 30)}
    return tmp_path, rels, sizes


def test_coco_autodetected(coco_tree):
    root, rels, sizes = coco_tree
    bs = load_boxes(root, rels, sizes)
    assert bs.format == "coco"
    assert_boxes(bs.boxes["a.jpg"], [(0.1, 0.1, 0.3, 0.5, "person")])
    # "val/sub/b.jpg" is matched to rel "sub/b.jpg" by its path suffix
    assert_boxes(bs.boxes["sub/b.jpg"], [(0.5, 0.0, 1.0, 0.5, "bike")])
    assert bs.boxes["d.jpg"] == []          # listed in the file, no objects
    assert bs.missing == ["c.jpg"]          # not in the file at all
    assert any("1 COCO image entries match no image" in n for n in bs.notes)


def test_coco_explicit_json_source(tmp_path):
    touch(tmp_path / "imgs" / "a.jpg")
    src = write(tmp_path / "coco.json", json.dumps(coco_doc()))
    bs = load_boxes(tmp_path / "imgs", ["a.jpg"], {"a.jpg": (200, 100)}, source=src)
    assert bs.format == "coco" and bs.source == src
    assert_boxes(bs.boxes["a.jpg"], [(0.1, 0.1, 0.3, 0.5, "person")])


@pytest.mark.parametrize("mutate, part", [
    (lambda d: d["annotations"][1].update(bbox=[1, 2, 3]), "annotations[1] (id 11)"),
    (lambda d: d["annotations"][0].update(bbox=[20, 10, 0, 40]), "annotations[0] (id 10)"),
    (lambda d: d["annotations"][1].update(category_id=99), "annotations[1] (id 11): category_id"),
    (lambda d: d["annotations"][0].update(image_id=42), "annotations[0] (id 10): image_id 42"),
])
def test_coco_malformed(tmp_path, mutate, part):
    doc = coco_doc()
    mutate(doc)
    src = write(tmp_path / "bad_coco.json", json.dumps(doc))
    rels = ["a.jpg", "sub/b.jpg"]
    with pytest.raises(UsageError) as ei:
        load_boxes(tmp_path, rels, {"a.jpg": (200, 100), "sub/b.jpg": (50, 40)}, source=src)
    assert "bad_coco.json" in str(ei.value) and part in str(ei.value)


def test_coco_bad_json_names_line(tmp_path):
    src = write(tmp_path / "bad_coco.json", '{\n "images": [],\n "annotations": [,]\n}\n')
    with pytest.raises(UsageError, match=r"bad_coco\.json, line 3"):
        load_boxes(tmp_path, ["a.jpg"], {"a.jpg": (1, 1)}, source=src)


# --------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------

def test_detect_each_format(yolo_tree, coco_tree, tmp_path):
    root, rels, _ = yolo_tree
    croot, crels, _ = coco_tree
    assert detect_format(croot, crels) == ("coco", croot / "annotations" / "instances.json")
    # both trees share tmp_path: the COCO file in annotations/ beside images/ is a candidate for
    # images/ too (issue 10 layouts), so two formats are found until it is gone
    with pytest.raises(UsageError, match="more than one format"):
        detect_format(root, rels)
    (croot / "annotations" / "instances.json").unlink()
    assert detect_format(root, rels) == ("yolo", None)
    v = tmp_path / "voc"
    touch(v / "a.jpg")
    write(v / "a.xml", VOC.format(name="a.jpg", w=200, h=100))
    assert detect_format(v, ["a.jpg"]) == ("voc", None)


def test_two_formats_is_an_error_unless_forced(tmp_path):
    touch(tmp_path / "a.jpg")
    write(tmp_path / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    write(tmp_path / "a.xml", VOC.format(name="a.jpg", w=200, h=100))
    with pytest.raises(UsageError, match="more than one format"):
        load_boxes(tmp_path, ["a.jpg"], {"a.jpg": (200, 100)})
    bs = load_boxes(tmp_path, ["a.jpg"], {"a.jpg": (200, 100)}, fmt="voc")
    assert bs.format == "voc"
    assert_boxes(bs.boxes["a.jpg"], VOC_EXPECTED)


def test_no_annotations_is_an_error(tmp_path):
    touch(tmp_path / "a.jpg")
    with pytest.raises(UsageError, match="no YOLO"):
        load_boxes(tmp_path, ["a.jpg"], {"a.jpg": (10, 10)})


def test_box_is_a_plain_tuple():
    b = Box(0.1, 0.2, 0.3, 0.4, "x")
    assert tuple(b)[:4] == (0.1, 0.2, 0.3, 0.4)
