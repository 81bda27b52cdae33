"""``--boxes auto`` layouts (issue 10): where annotations sit relative to the images, and the
layout string the log shows. Every tree is written by hand; image content is never read."""

import json

import pytest

from bbselect.inputs.annotations import load_boxes

VOC = ("<annotation><size><width>100</width><height>50</height></size><object><name>{}</name>"
       "<bndbox><xmin>10</xmin><ymin>5</ymin><xmax>60</xmax><ymax>45</ymax></bndbox></object></annotation>")


def write(p, text=""):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def box_of(bs, rel):
    b = bs.boxes[rel][0]
    return (round(b.x0, 6), round(b.y0, 6), round(b.x1, 6), round(b.y1, 6), b.label)


@pytest.mark.parametrize("img_dir,ann_dir", [("JPEGImages", "Annotations"), ("images", "annotations")])
@pytest.mark.parametrize("point_at", ["dataset", "images"])
def test_voc_sibling_folders(tmp_path, img_dir, ann_dir, point_at):
    write(tmp_path / img_dir / "a.jpg")
    write(tmp_path / img_dir / "b.jpg")  # no annotation
    write(tmp_path / ann_dir / "a.xml", VOC.format("raccoon"))
    root = tmp_path if point_at == "dataset" else tmp_path / img_dir
    rels = [f"{img_dir}/a.jpg", f"{img_dir}/b.jpg"] if point_at == "dataset" else ["a.jpg", "b.jpg"]
    bs = load_boxes(root, rels, {r: (100, 50) for r in rels})
    assert bs.format == "voc" and bs.missing == [rels[1]]
    assert box_of(bs, rels[0]) == (0.09, 0.08, 0.6, 0.9, "raccoon")  # VOC is 1-based: 9/100, 4/50, 60/100, 45/50
    assert bs.layout == f"Pascal VOC: {img_dir}/ <-> {ann_dir}/ (path substitution)"


def test_yolo_images_labels_substitution_with_ultralytics_names(tmp_path):
    write(tmp_path / "images" / "train2017" / "x.jpg")
    write(tmp_path / "images" / "train2017" / "empty.jpg")  # no label file: no objects (YOLO)
    write(tmp_path / "labels" / "train2017" / "x.txt", "2 0.5 0.5 0.2 0.4\n")
    write(tmp_path / "data.yaml", "path: .\nnames:\n  0: person\n  1: bicycle\n  2: car\n")
    rels = ["images/train2017/x.jpg", "images/train2017/empty.jpg"]
    bs = load_boxes(tmp_path, rels, {})
    assert box_of(bs, rels[0]) == (0.4, 0.3, 0.6, 0.7, "car")
    assert bs.layout == "YOLO: images/ <-> labels/ (path substitution)"
    assert "no label file = no objects" in bs.notes[-1]


def test_yolo_beside_images_with_names_list(tmp_path):
    write(tmp_path / "a.jpg")
    write(tmp_path / "a.txt", "1 0.5 0.5 0.2 0.2\n")
    write(tmp_path / "classes.yaml", "names: [cat, dog]\n")
    bs = load_boxes(tmp_path, ["a.jpg"], {})
    assert box_of(bs, "a.jpg")[4] == "dog" and bs.layout == "YOLO: annotation files beside the images"


@pytest.mark.parametrize("where", ["root", "annotations", "sibling"])
def test_coco_json_at_root_in_annotations_or_beside_an_images_folder(tmp_path, where):
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 5, 50, 40]}],
            "categories": [{"id": 7, "name": "raccoon"}]}
    images = tmp_path / "images"
    write(images / "a.jpg")
    folder = {"root": images, "annotations": images / "annotations", "sibling": tmp_path / "annotations"}[where]
    write(folder / "instances.json", json.dumps(data))
    bs = load_boxes(images, ["a.jpg"], {"a.jpg": (100, 50)})
    assert bs.format == "coco" and box_of(bs, "a.jpg") == (0.1, 0.1, 0.6, 0.9, "raccoon")
    expected = {"root": "COCO json instances.json in the image folder",
                "annotations": "COCO json annotations/instances.json in the image folder",
                "sibling": "COCO json annotations/instances.json beside the image folder"}[where]
    assert bs.layout == expected
