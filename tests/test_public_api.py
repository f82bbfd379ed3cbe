"""The curated public surface (httpx style): sorted, complete, importable."""

import enumlab


def test_all_is_sorted_and_importable() -> None:
    assert enumlab.__all__ == sorted(enumlab.__all__)
    for name in enumlab.__all__:
        assert hasattr(enumlab, name), name


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(enumlab, n) for n in enumlab.__all__ if n.endswith("Error")]
    assert len(errors) >= 14
    for cls in errors:
        assert issubclass(cls, enumlab.EnumlabError), cls
        assert cls.__doc__, cls
