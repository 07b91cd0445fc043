"""Test helpers imported as a package (``from tests.helpers.parts import make_part_scene``)."""
