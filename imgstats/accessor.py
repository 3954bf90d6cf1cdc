"""The ``.imgstats`` accessors of xarray DataArrays and Datasets: ``img.imgstats.compute("p99")``.

imgstats does not import xarray (with pandas, over a second) unless an input needs it, yet the
accessor must be there for notebook users who import xarray themselves, before or after
imgstats. So ``import imgstats`` either registers it at once, when xarray is already imported,
or puts a small finder on :data:`sys.meta_path` that registers it right after xarray's own
module has run, whoever imports it, then removes itself. Nothing else is imported early.
"""

from __future__ import annotations

import sys
import threading
import warnings

__all__ = [
    "ImgStatsAccessor",
    "ImgStatsDatasetAccessor",
    "register",
    "register_when_xarray_is_imported",
]

_NAME = "imgstats"
_lock = threading.Lock()


def _describe(accessor) -> str:
    """``<imgstats accessor of an xarray.DataArray (y: 3, x: 4) uint16: compute, ...>``: what
    a notebook shows for ``da.imgstats``, the methods a newcomer may call named."""
    obj = accessor._obj
    sizes = ", ".join(f"{dim}: {size}" for dim, size in obj.sizes.items())
    dtype = f" {obj.dtype}" if hasattr(obj, "dtype") else ""
    methods = ", ".join(n for n in dir(type(accessor)) if not n.startswith("_"))
    return f"<imgstats accessor of an xarray.{type(obj).__name__} ({sizes}){dtype}: {methods}>"


class _Accessor:
    """What both accessors hold: ``_given``, the object as given, for the calls that take
    ``raw=`` or ``nodata=`` (they decode CF's attrs as those options say: ``raw=True`` leaves
    every missing value as stored), and ``_obj``, decoded as xarray decodes it (CF's unsigned
    bytes and missing values; a Dataset's variables are decoded one by one as reduced) at
    each read: a ``compute`` decodes as its options say, and needs no decoded copy."""

    def __init__(self, obj):
        self._given = obj

    @property
    def _obj(self):
        """The object decoded as it is now, never cached: xarray keeps one accessor per
        object, and a decode kept in it answered from the attrs and samples of its first
        use (after ``da.attrs["missing_value"] = [0, 9]``, or an in-place edit of the
        samples, a median of 3.0 where xarray's decode gives 2.0). Nothing but CF's
        attrs costs a decode: the object itself, or a view of it (``_Unsigned``), or a lazy
        step of a dask graph; a numpy array with several missing values is one more pass
        over its samples beside the reduction's own."""
        from ._inputs import cf_decoded

        return cf_decoded(self._given)

    __repr__ = _describe


class ImgStatsAccessor(_Accessor):
    """Exact statistics of a DataArray's samples, registered as ``DataArray.imgstats``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> arr = xr.DataArray(np.arange(12, dtype=np.uint16).reshape(3, 4), dims=("y", "x"))
    >>> arr.imgstats.compute(["min", "p50", "max"])
    {'min': 0, 'p50': 5.5, 'max': 11}
    """

    def compute(self, func, band=None, *, dim=None, **options):
        """Compute statistics; see :func:`imgstats.compute`.

        With ``dim`` (a dim name or a tuple of them) the result is a DataArray over the
        other dims, lazy for a dask-backed array (see :func:`imgstats.dims.compute_along`):
        ``stack.imgstats.compute("p99", dim=("y", "x"))`` gives one value per time step.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
        >>> stack = xr.DataArray(values, dims=("time", "y", "x"))
        >>> stack.imgstats.compute("max")
        23
        >>> stack.imgstats.compute(["min", "median"], dim=("y", "x")).values.tolist()
        [[0.0, 5.5], [12.0, 17.5]]
        """
        from .reduce import compute

        return compute(self._given, func, band, dim=dim, **options)

    def zonal(self, zones, funcs, band=None, **options):
        """Exact statistics per zone (label or polygon); see :func:`imgstats.zonal`.

        ``labels.imgstats`` is not needed: ``zones`` is a label array of the same ``(y, x)``
        shape or polygons, and the result a pandas DataFrame with one row per zone.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> img = xr.DataArray(np.arange(12, dtype=np.uint8).reshape(3, 4), dims=("y", "x"))
        >>> fields = np.array([[1, 1, 2, 2]] * 3)
        >>> img.imgstats.zonal(fields, ["median", "max"]).to_dict("index")  # count comes last
        {1: {'median': 4.5, 'max': 9, 'count': 6}, 2: {'median': 6.5, 'max': 11, 'count': 6}}
        """
        from .zones import zonal

        return zonal(self._given, zones, funcs, band=band, **options)

    def quantile(
        self,
        q,
        dim=None,
        *,
        method: str = "linear",
        skipna: bool | None = None,
        keep_attrs: bool | None = None,
    ):
        """Exact quantiles, laid out as :meth:`xarray.DataArray.quantile` lays them out.

        Parameters
        ----------
        q : float or sequence of float
            Quantiles in [0, 1].
        dim : str, sequence of str or None
            The dims to reduce; ``None``: all of them.
        method : str
            One of numpy's 13 quantile methods (``"linear"``, ``"nearest"``, ``"lower"``,
            ``"hazen"``...), as ``numpy.quantile(..., method=)`` and xarray take it.
        skipna : bool or None
            Ignore NaN (numpy's ``nanquantile``); ``False`` gives NaN wherever a reduced cell
            holds one. ``None`` (the default) ignores NaN, as xarray's ``skipna=None`` does.
        keep_attrs : bool or None
            Keep the array's attrs (the name is always kept). ``None`` (the default) keeps
            them unless ``xarray.set_options(keep_attrs=False)`` is in force, as xarray does.

        Returns
        -------
        xarray.DataArray
            Over the remaining dims, with a numeric ``quantile`` coordinate: a leading
            ``quantile`` dim for a sequence ``q``, a scalar coordinate for one; of numpy's
            type: the samples' own for the discrete methods (``nearest``, ``lower``,
            ``higher``, ``inverted_cdf``, ``closest_observation``), else float16 and float32
            for float16 and float32 samples and float64 for the others. Lazy (dask-backed)
            for a dask-backed array:
            ``.compute()`` runs the graph.

        Notes
        -----
        The values equal ``numpy.nanquantile(a, qi, method=method)`` of the same samples for
        each number ``qi`` of ``q``, to the last bit, whatever the chunking. (Given the whole
        sequence at once, numpy interpolates float16 and float32 samples in float64, as its
        float64 array of ``q`` promotes them; a sequence here reads each ``qi`` alone.)
        Unlike :meth:`xarray.DataArray.quantile`, the reduced dims may be chunked (xarray
        asks to rechunk them into one), and float32 samples are interpolated in float32, as
        numpy does (xarray converts them to float64 first). See :mod:`imgstats._quantile`.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> arr = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"), name="ndvi")
        >>> arr.imgstats.quantile([0.1, 0.9], dim="x").values.tolist()
        [[0.30000000000000004, 4.3, 8.3], [2.7, 6.7, 10.7]]
        >>> arr.imgstats.quantile(0.4, dim="x", method="nearest").values.tolist()
        [1.0, 5.0, 9.0]
        """
        from ._quantile import quantile

        return quantile(self._obj, q, dim, skipna=skipna, keep_attrs=keep_attrs, method=method)

    def median(self, dim=None, *, skipna: bool | None = None, keep_attrs: bool | None = None):
        """Exact median, laid out as :meth:`xarray.DataArray.median` lays it out.

        The parameters and result are :meth:`quantile`'s with ``q=0.5``, without the
        ``quantile`` coordinate; the values are ``numpy.nanmedian``'s (the mean of the two
        middle samples, as xarray's median and ``compute(a, "median")``), to the last bit.
        ``dim`` is a name, a list, tuple or set of names, or ``None`` (every dim).

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> arr = xr.DataArray(np.arange(12, dtype=np.uint16).reshape(3, 4), dims=("y", "x"))
        >>> float(arr.imgstats.median())
        5.5
        """
        from ._quantile import median

        return median(self._obj, dim, skipna=skipna, keep_attrs=keep_attrs)

    def summarize(self, **options):
        """Summarize once, then ask any statistic of it; see :func:`imgstats.summarize`.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> img = xr.DataArray(np.arange(12, dtype=np.uint8).reshape(3, 4), dims=("y", "x"))
        >>> summary = img.imgstats.summarize()
        >>> summary.compute(["median", "p90"])  # no second read of the pixels
        {'median': 5.5, 'p90': 9.9}
        """
        from .reduce import summarize

        return summarize(self._given, **options)


class ImgStatsDatasetAccessor(_Accessor):
    """Exact reductions of each data variable of a Dataset, registered as ``Dataset.imgstats``.

    As xarray's own Dataset reductions: the result is a Dataset of each variable's result,
    reduced along the dims of ``dim`` it has (``None``: all of them); a numeric variable
    with none of them is reduced over no dim (each element its own sample; kept as it is by
    quantile, as ``ds.quantile`` keeps it), a complex or
    timedelta one by xarray's own median or quantile (complex quantiles are refused, as
    xarray refuses them), a variable of another type is dropped when it has a reduced dim
    and kept when it has none, and a dim that no variable has is refused. ``dim`` is a name,
    a list, tuple or set of names, or ``None``. See :mod:`imgstats._dataset`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(
    ...     {
    ...         "red": (("time", "y", "x"), np.arange(24, dtype=np.uint16).reshape(2, 3, 4)),
    ...         "mask": (("y", "x"), np.ones((3, 4), bool)),
    ...     }
    ... )
    >>> ds.imgstats.median(dim=("y", "x"))["red"].values.tolist()
    [5.5, 17.5]
    """

    def quantile(self, q, dim=None, *, method: str = "linear", skipna=None, keep_attrs=None):
        """:meth:`ImgStatsAccessor.quantile` of each data variable (a Dataset of them): its
        parameters, types and defaults.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"red": (("y", "x"), np.arange(12, dtype=np.uint16).reshape(3, 4))})
        >>> ds.imgstats.quantile([0.1, 0.9], dim="x")["red"].values.tolist()
        [[0.30000000000000004, 4.3, 8.3], [2.7, 6.7, 10.7]]
        """
        from ._dataset import reduce_dataset
        from ._quantile import quantile, xarray_defaults

        skipna, keep_attrs = xarray_defaults(skipna, keep_attrs)

        def one(var, dims):
            return quantile(var, q, dims, skipna=skipna, keep_attrs=keep_attrs, method=method)

        def other(var, dims):  # complex, timedelta: xarray's own, as ds.quantile
            if var.dtype.kind == "c":
                from .errors import InvalidOption

                raise InvalidOption(
                    "quantiles of complex numbers are not defined (xarray's quantile refuses "
                    "them too): reduce its .real, .imag or abs()"
                )
            return var.quantile(q, dim=dims, method=method, skipna=skipna, keep_attrs=keep_attrs)

        return reduce_dataset(self._obj, one, dim, keep_attrs, other, keep_unreduced=True)

    def median(self, dim=None, *, skipna: bool | None = None, keep_attrs: bool | None = None):
        """:meth:`ImgStatsAccessor.median` of each data variable (a Dataset of them).

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"red": (("y", "x"), np.arange(12, dtype=np.uint16).reshape(3, 4))})
        >>> float(ds.imgstats.median()["red"])
        5.5
        """
        from ._dataset import reduce_dataset
        from ._quantile import median, xarray_defaults

        skipna, keep_attrs = xarray_defaults(skipna, keep_attrs)

        def one(var, dims):
            return median(var, dims, skipna=skipna, keep_attrs=keep_attrs)

        def other(var, dims):  # complex, timedelta: xarray's own (numpy's order), as ds.median
            if hasattr(var.data, "dask") and set(dims) == set(var.dims):
                # dask's nanmedian reduces some axes, never all: stacked beside a dim of one
                one = var.stack({_ALL: dims}, create_index=False).expand_dims(_ALL + "1")
                out = one.median(dim=_ALL, skipna=skipna, keep_attrs=keep_attrs)
                return out.squeeze(_ALL + "1", drop=True)
            return var.median(dim=dims, skipna=skipna, keep_attrs=keep_attrs)

        return reduce_dataset(self._obj, one, dim, keep_attrs, other)

    def compute(self, func, dim=None, **options):
        """:func:`imgstats.compute` of each data variable along ``dim`` (``None``: all its
        dims), a Dataset of DataArrays (with a ``func`` dim for a list of functions); the
        options are those :func:`imgstats.compute` takes with ``dim``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"red": (("y", "x"), np.arange(12, dtype=np.uint16).reshape(3, 4))})
        >>> ds.imgstats.compute(["min", "max"], dim="x")["red"].values.tolist()
        [[0, 3], [4, 7], [8, 11]]
        """
        from ._dataset import reduce_dataset
        from .reduce import compute

        def one(var, dims):
            return compute(var, func, dim=dims, **options)

        return reduce_dataset(self._given, one, dim, True, io_options=options)


#: The one dim a lazy complex variable's dims are stacked into, to reduce them all.
_ALL = "__imgstats_all__"


def register() -> None:
    """Register ``DataArray.imgstats`` and ``Dataset.imgstats`` (imports xarray); registering
    again does nothing."""
    import xarray as xr

    with _lock:
        if getattr(xr.DataArray, _NAME, None) is not ImgStatsAccessor:
            xr.register_dataarray_accessor(_NAME)(ImgStatsAccessor)
        if getattr(xr.Dataset, _NAME, None) is not ImgStatsDatasetAccessor:
            xr.register_dataset_accessor(_NAME)(ImgStatsDatasetAccessor)


def register_when_xarray_is_imported() -> None:
    """Register the accessor now if xarray is imported, else as soon as it is."""
    if "xarray" in sys.modules:
        register()
    elif not any(isinstance(f, _XarrayHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _XarrayHook())


class _XarrayHook:
    """Finds nothing itself: hands xarray's spec on with a loader that registers afterwards.

    A finder and a loader by their methods alone: subclassing importlib.abc would import
    importlib.resources and tempfile with every ``import imgstats``.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname != "xarray":
            return None
        for finder in sys.meta_path:  # the finders the import system would ask next
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # not a module we know how to follow: register() is still public
        spec.loader = _RegisteringLoader(spec.loader, self)
        return spec


class _RegisteringLoader:
    """Runs xarray's own loader, restores it on the module, then registers the accessor."""

    def __init__(self, loader, hook: _XarrayHook):
        self._loader = loader
        self._hook = hook

    def __getattr__(self, name):  # get_resource_reader, is_package...: the real loader's
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        try:
            sys.meta_path.remove(self._hook)
        except ValueError:
            pass  # another thread got there first
        try:
            register()
        except Exception as exc:  # never break the user's `import xarray`
            warnings.warn(
                f"imgstats could not register DataArray.imgstats: {exc!r}",
                RuntimeWarning,
                stacklevel=2,
            )
