"""The release (ILSVRC2012 devkit) class order vs TFDS's sorted-WNID order."""

from __future__ import annotations

import numpy as np

from overfeat import imagenet_classes as classes


def test_the_two_lists():
    release = classes.release_class_names()
    assert len(release) == 1000
    assert release[:3] == ("kit fox, Vulpes macrotis", "English setter", "Siberian husky")
    assert classes.synsets()[0] == ("n01440764", "tench, Tinca tinca")
    assert list(classes.tfds_wnids()) == sorted(classes.tfds_wnids())
    assert [i for i, name in enumerate(release) if name == "crane"] == [428, 544]


def test_the_mapping_is_a_permutation_that_keeps_names():
    to_tfds, to_release = classes.release_to_tfds(), classes.tfds_to_release()
    assert sorted(to_tfds.tolist()) == list(range(1000))
    np.testing.assert_array_equal(to_tfds[to_release], np.arange(1000))
    np.testing.assert_array_equal(to_release[to_tfds], np.arange(1000))
    tfds_names = classes.tfds_class_names()
    for index, name in enumerate(classes.release_class_names()):
        assert tfds_names[to_tfds[index]] == name
    assert to_tfds[0] == classes.tfds_wnids().index("n02119789")  # kit fox


def test_crane_is_placed_by_its_neighbours():
    """The devkit order walks WordNet, so neighbours share a branch. Release index 428 sits
    between bittern (n02011460) and limpkin (n02013706), whose WordNet offsets bracket the
    bird crane's (n02012849) and not the machine's (n03126707); index 544 sits among
    devices (keyboards, lighter), none of them a bird."""
    wnids = classes.release_wnids()
    assert wnids[428] == classes.CRANE_BIRD and wnids[544] == classes.CRANE_MACHINE
    names = classes.release_class_names()
    assert (names[427], names[429]) == ("bittern", "limpkin, Aramus pictus")
    assert wnids[427] < classes.CRANE_BIRD < wnids[429]
    assert not wnids[427] < classes.CRANE_MACHINE < wnids[429]
    assert names[543] == "typewriter keyboard" and names[545].startswith("lighter")
    assert all(wnids[i] >= "n03000000" for i in (543, 545))  # artifacts, not animals


def test_reordering_scores():
    release_scores = np.zeros(1000)
    release_scores[3] = 1.0  # Australian terrier
    tfds_scores = release_scores[classes.tfds_to_release()]
    hot = int(np.argmax(tfds_scores))
    assert classes.tfds_class_names()[hot] == "Australian terrier"
    np.testing.assert_array_equal(tfds_scores[classes.release_to_tfds()], release_scores)
