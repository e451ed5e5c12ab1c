"""A raw product's georeferencing by its sensor (RPCs, ground control points), carried to a result.

A raw satellite product (WorldView, Pleiades, SPOT Level 1) has no map grid: GDAL places it by its
rational polynomial coefficients (RPCs) or by ground control points, both in the image's pixel
coordinates. A result on the guide's grid keeps the guide's model as it is; a result made from the
low-resolution image's grid gets that model on a grid ``factor`` times finer; a window of a scene
gets the model of its window. So the result opens where its inputs do in QGIS, and ``gdalwarp
-rpc`` (or ``-tps``) orthorectifies it as it would the input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["SensorModel"]

# RPC line and sample coordinates count from the centre of the first pixel (GDAL adds half a
# pixel to reach its corner convention); ground control points count from its corner.
_LINE, _SAMP = ("line_off", "line_scale"), ("samp_off", "samp_scale")


@dataclass(frozen=True)
class SensorModel:
    """How a raw (not orthorectified) image is placed on the earth.

    Attributes:
        rpcs: GDAL's rational polynomial coefficients as rasterio's ``RPC.to_dict()`` items
            (coefficient lists as tuples), else None.
        gcps: ground control points ``(row, col, x, y, z)``, the pixel coordinates from the first
            pixel's corner as in GDAL, else empty.
        gcp_crs: the points' coordinate system as WKT, else None.

    Example:
        >>> m = SensorModel(gcps=((0.0, 0.0, 139.0, 35.0, 0.0), (10.0, 20.0, 139.1, 34.9, 0.0)))
        >>> m.refined(4).gcps[1][:2], m.shifted(2, 4).gcps[1][:2], m.refined(4).thinned(4).gcps[1][:2]
        ((40.0, 80.0), (8.0, 16.0), (10.375, 20.375))
    """

    rpcs: tuple[tuple[str, Any], ...] | None = None
    gcps: tuple[tuple[float, float, float, float, float], ...] = ()
    gcp_crs: str | None = None

    @property
    def kind(self) -> str:
        """What places the image, in words."""
        return "rational polynomial coefficients (RPCs)" if self.rpcs else "ground control points"

    @classmethod
    def of(cls, src: Any) -> SensorModel | None:
        """The model of an open rasterio dataset without a map grid, else None."""
        if src.transform and not src.transform.is_identity:
            return None
        if src.rpcs:
            return cls(rpcs=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in src.rpcs.to_dict().items()))
        points, crs = src.gcps
        if not points:
            return None
        return cls(
            gcps=tuple((p.row, p.col, p.x, p.y, p.z or 0.0) for p in points),
            gcp_crs=crs.to_wkt() if crs else None,
        )

    def _rpc(self, line: tuple[float, float], samp: tuple[float, float]) -> SensorModel:
        """The RPCs with each coordinate mapped to ``a * coordinate + b`` (``line`` and ``samp`` are (a, b))."""
        d = dict(self.rpcs or ())
        for (off, scale), (a, b) in ((_LINE, line), (_SAMP, samp)):
            d[off], d[scale] = a * d[off] + b, a * d[scale]
        return replace(self, rpcs=tuple(d.items()))

    def refined(self, factor: int) -> SensorModel:
        """The same image's model on a grid ``factor`` times finer."""
        if self.rpcs:
            half = (factor - 1) / 2  # pixel centres: c -> factor * (c + 1/2) - 1/2
            return self._rpc((factor, half), (factor, half))
        return replace(self, gcps=tuple((r * factor, c * factor, x, y, z) for r, c, x, y, z in self.gcps))

    def shifted(self, row: int, col: int) -> SensorModel:
        """The model of a window whose first pixel is (``row``, ``col``)."""
        if self.rpcs:
            return self._rpc((1, -row), (1, -col))
        return replace(self, gcps=tuple((r - row, c - col, x, y, z) for r, c, x, y, z in self.gcps))

    def thinned(self, k: int) -> SensorModel:
        """The model of every k-th pixel (0, k, 2k ...) as pixels k times larger, each centred on its pixel."""
        if self.rpcs:
            return self._rpc((1 / k, 0.0), (1 / k, 0.0))  # pixel centres: c -> c / k
        back = (k - 1) / 2  # corners: the kept pixel's centre is the larger pixel's
        return replace(self, gcps=tuple(((r + back) / k, (c + back) / k, x, y, z) for r, c, x, y, z in self.gcps))

    def pam(self) -> str:
        """The model as the elements of a GDAL ``.aux.xml`` (PAMDataset), for a picture beside a result."""
        from xml.sax.saxutils import escape, quoteattr

        if self.rpcs:
            from rasterio.rpc import RPC

            gdal = RPC(**{k: list(v) if isinstance(v, tuple) else v for k, v in self.rpcs}).to_gdal()
            items = "".join(f'    <MDI key="{k}">{escape(str(v))}</MDI>\n' for k, v in gdal.items())
            return f'  <Metadata domain="RPC">\n{items}  </Metadata>\n'
        points = "".join(
            f'    <GCP Id="{i + 1}" Pixel="{c!r}" Line="{r!r}" X="{x!r}" Y="{y!r}" Z="{z!r}"/>\n'
            for i, (r, c, x, y, z) in enumerate(self.gcps)
        )
        return f"  <GCPList Projection={quoteattr(self.gcp_crs or '')}>\n{points}  </GCPList>\n"

    def put(self, dst: Any) -> None:
        """Give an open rasterio dataset (being written, without a map grid) this model."""
        from rasterio.control import GroundControlPoint
        from rasterio.crs import CRS
        from rasterio.rpc import RPC

        if self.rpcs:
            dst.rpcs = RPC(**{k: list(v) if isinstance(v, tuple) else v for k, v in self.rpcs})
        else:
            points = [GroundControlPoint(row=r, col=c, x=x, y=y, z=z) for r, c, x, y, z in self.gcps]
            dst.gcps = (points, CRS.from_wkt(self.gcp_crs) if self.gcp_crs else None)
