"""R packages as apt packages: Debian's `r-cran-<name>` binaries, and the system libraries a
package needs when it is compiled from source (renv mode, or a project with compiled code).

The table covers the CRAN packages whose build most often fails for a missing header; it is the
same knowledge rocker's install scripts and Posit's sysreqs database hold, cut down to Debian
and Ubuntu names. Unknown packages need nothing beyond `r-base-dev` (or say so in their
`SystemRequirements`, which `keyword_requirements` reads).
"""

from __future__ import annotations

import re

# CRAN package -> Debian/Ubuntu -dev packages needed to compile it.
SYSTEM_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "xml2": ("libxml2-dev",),
    "XML": ("libxml2-dev",),
    "curl": ("libcurl4-openssl-dev",),
    "httr": ("libcurl4-openssl-dev", "libssl-dev"),
    "openssl": ("libssl-dev",),
    "sf": ("libgdal-dev", "libgeos-dev", "libproj-dev", "libudunits2-dev"),
    "terra": ("libgdal-dev", "libgeos-dev", "libproj-dev"),
    "units": ("libudunits2-dev",),
    "s2": ("libssl-dev",),
    "git2r": ("libgit2-dev",),
    "gert": ("libgit2-dev",),
    "ragg": ("libfreetype6-dev", "libpng-dev", "libtiff5-dev", "libjpeg-dev"),
    "systemfonts": ("libfontconfig1-dev", "libfreetype6-dev"),
    "textshaping": ("libharfbuzz-dev", "libfribidi-dev"),
    "png": ("libpng-dev",),
    "jpeg": ("libjpeg-dev",),
    "magick": ("libmagick++-dev",),
    "stringi": ("libicu-dev",),
    "RPostgres": ("libpq-dev",),
    "RPostgreSQL": ("libpq-dev",),
    "RMariaDB": ("libmariadb-dev",),
    "odbc": ("unixodbc-dev",),
    "rJava": ("default-jdk",),
    "igraph": ("libglpk-dev", "libxml2-dev"),
    "gsl": ("libgsl-dev",),
    "gmp": ("libgmp-dev",),
    "Rmpfr": ("libmpfr-dev",),
    "hdf5r": ("libhdf5-dev",),
    "ncdf4": ("libnetcdf-dev",),
    "sodium": ("libsodium-dev",),
    "redux": ("libhiredis-dev",),
    "protolite": ("libprotobuf-dev", "protobuf-compiler"),
    "V8": ("libnode-dev",),
    "httpuv": ("zlib1g-dev",),
    "data.table": ("zlib1g-dev",),
    "fs": ("libuv1-dev",),
    "pdftools": ("libpoppler-cpp-dev",),
    "tesseract": ("libtesseract-dev", "libleptonica-dev"),
    "rsvg": ("librsvg2-dev",),
    "Cairo": ("libcairo2-dev",),
    "xgboost": ("cmake",),
    "arrow": ("cmake", "libssl-dev"),
}
# Words in a DESCRIPTION's free-text SystemRequirements -> what provides them.
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"libxml", ("libxml2-dev",)), (r"libcurl", ("libcurl4-openssl-dev",)), (r"openssl", ("libssl-dev",)),
    (r"\bgdal\b", ("libgdal-dev",)), (r"\bgeos\b", ("libgeos-dev",)), (r"\bproj\b", ("libproj-dev",)),
    (r"udunits", ("libudunits2-dev",)), (r"libgit2", ("libgit2-dev",)), (r"\bicu\b", ("libicu-dev",)),
    (r"\bzlib\b", ("zlib1g-dev",)), (r"libpq|postgres", ("libpq-dev",)), (r"\bjava\b|\bjdk\b", ("default-jdk",)),
    (r"\bgsl\b", ("libgsl-dev",)), (r"\bcmake\b", ("cmake",)), (r"pandoc", ("pandoc",)),
)


def debian_package(r_package: str) -> str:
    """Debian's name for a CRAN package's binary: `r-cran-` plus the name in lower case (dots kept)."""
    return f"r-cran-{r_package.lower()}"


def keyword_requirements(text: str) -> list[str]:
    found: list[str] = []
    for pattern, packages in KEYWORDS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            found += packages
    return found


def system_requirements(packages: list[str], free_text: str = "") -> dict[str, list[str]]:
    """R package (or `SystemRequirements`) -> the apt -dev packages it needs to compile."""
    mapping = {p: list(SYSTEM_REQUIREMENTS[p]) for p in packages if p in SYSTEM_REQUIREMENTS}
    extra = keyword_requirements(free_text)
    if extra:
        mapping["SystemRequirements"] = list(dict.fromkeys(extra))
    return mapping


def flatten(mapping: dict[str, list[str]]) -> list[str]:
    return sorted({apt for packages in mapping.values() for apt in packages})
