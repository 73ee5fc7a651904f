"""Multi-crop geometry: exact pixel boxes, mirrors, and the tensor op that applies them."""

import numpy as np
import pytest
import tensorflow as tf

from keras_inception import data
from keras_inception.evaluation import crops
from keras_inception.evaluation.crops import CropBox


def test_scales_follow_the_network_size():
    assert crops.scales(224) == (256, 288, 320, 352)
    assert crops.scales(299) == (342, 384, 427, 470)
    assert crops.scales((224, 299)) == crops.scales(299)


@pytest.mark.parametrize(
    "height, width, shorter, expected",
    [
        (300, 400, 256, (256, 341)),
        (400, 300, 256, (341, 256)),
        (333, 333, 288, (288, 288)),
        (375, 500, 342, (342, 456)),
    ],
)
def test_resized_shape_keeps_the_aspect_ratio(height, width, shorter, expected):
    assert crops.resized_shape(height, width, shorter) == expected


def test_ten_crops_are_corners_and_centre_of_the_resized_image_then_mirrors():
    # 300x400 -> 256x341; 224-px crops.
    boxes = crops.crop_boxes(300, 400, 224, 10)
    expected = [(0, 0), (0, 117), (32, 0), (32, 117), (16, 58)]
    assert [(b.top, b.left) for b in boxes[:5]] == expected
    assert all(b.scale == 256 and (b.height, b.width) == (224, 224) for b in boxes)
    assert [b.flip for b in boxes] == [False] * 5 + [True] * 5
    assert [b._replace(flip=False) for b in boxes[5:]] == list(boxes[:5])


def test_twelve_crops_are_the_centre_square_at_the_first_scale():
    # Portrait 400x300 -> 341x256: the centre square starts at row 42.
    boxes = crops.crop_boxes(400, 300, 224, 12)
    assert boxes[:6] == (
        CropBox(256, 42, 0, 224, 224, False),
        CropBox(256, 42, 32, 224, 224, False),
        CropBox(256, 74, 0, 224, 224, False),
        CropBox(256, 74, 32, 224, 224, False),
        CropBox(256, 58, 16, 224, 224, False),
        CropBox(256, 42, 0, 256, 256, False),
    )
    assert boxes[6:] == tuple(b._replace(flip=True) for b in boxes[:6])
    assert set(boxes) <= set(crops.crop_boxes(400, 300, 224, 144))


@pytest.mark.parametrize("height, width", [(300, 400), (400, 300), (256, 256), (375, 500)])
def test_144_crops_cover_4_scales_3_squares_6_crops_2_mirrors(height, width):
    boxes = crops.crop_boxes(height, width, 224, 144)
    assert len(boxes) == 144 and len(set(boxes)) == (144 if height != width else 48)
    assert [b.scale for b in boxes[:72]] == [s for s in (256, 288, 320, 352) for _ in range(18)]
    assert boxes[72:] == tuple(b._replace(flip=True) for b in boxes[:72])
    for box in boxes:
        resized_h, resized_w = crops.resized_shape(height, width, box.scale)
        assert 0 <= box.top and box.top + box.height <= resized_h
        assert 0 <= box.left and box.left + box.width <= resized_w
        assert (box.height, box.width) in {(224, 224), (box.scale, box.scale)}
    # At scale 352 the image 300x400 is 352x469: squares at columns 0, 58, 117.
    if (height, width) == (300, 400):
        last_scale = boxes[54:72]
        assert [b.left for b in last_scale if b.height == 352] == [0, 58, 117]
        assert last_scale[6 + 1] == CropBox(352, 0, 58 + 128, 224, 224, False)
        assert last_scale[12 + 4] == CropBox(352, 64, 117 + 64, 224, 224, False)


def test_geometry_is_the_same_with_tensor_sizes():
    @tf.function
    def boxes(height, width):
        return [tf.stack([b.top, b.left]) for b in crops.crop_boxes(height, width, 299, 144)]

    got = [tuple(int(v) for v in pair) for pair in boxes(tf.constant(375), tf.constant(500))]
    assert got == [(b.top, b.left) for b in crops.crop_boxes(375, 500, 299, 144)]


@pytest.mark.parametrize("count", [10, 12, 144])
def test_multi_crop_cuts_exactly_the_boxes(count):
    image = np.random.RandomState(count).randint(0, 256, (50, 70, 3)).astype(np.uint8)
    size = 24
    patches = crops.multi_crop(image, size, count).numpy()
    assert patches.shape == (count, size, size, 3) and patches.dtype == np.float32
    for patch, box in zip(patches, crops.crop_boxes(50, 70, size, count)):
        resized = tf.image.resize(image.astype(np.float32), crops.resized_shape(50, 70, box.scale))
        expected = resized[box.top : box.top + box.height, box.left : box.left + box.width]
        expected = tf.image.resize(expected, (size, size)).numpy()
        if box.flip:
            expected = expected[:, ::-1]
        np.testing.assert_allclose(patch, expected, atol=1e-3)


def test_multi_crop_runs_in_a_graph_on_any_image_size():
    op = tf.function(
        lambda image: crops.multi_crop(image, (32, 24), 144),
        input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)],
    )
    for shape in [(40, 90, 3), (90, 40, 3), (33, 33, 3)]:
        assert op(tf.zeros(shape, tf.uint8)).shape == (144, 32, 24, 3)


def test_single_crop_is_the_evaluation_preprocessing():
    image = np.random.RandomState(1).randint(0, 256, (64, 80, 3)).astype(np.uint8)
    got = crops.multi_crop(image, 32, 1)
    expected = data.preprocess_for_eval(image, 32, 32, scale=False)
    np.testing.assert_array_equal(got.numpy(), expected.numpy()[None])


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="Received: crops=7"):
        crops.multi_crop(np.zeros((8, 8, 3), np.uint8), 4, 7)
    with pytest.raises(ValueError, match="Received: crops=1"):
        crops.crop_boxes(10, 10, 4, 1)
    with pytest.raises(ValueError, match="Received: size="):
        crops.crop_boxes(10, 10, 0, 10)
