# --- importlib-metadata-cache: begin ------------------------------------------
# Turns the importlib.metadata cache on in every interpreter that imports this
# sitecustomize.py, for installs where our .pth file is not wanted or is never
# processed. APPEND this block to an existing sitecustomize.py; never replace
# that file with this one (see README.md beside this file).
#
# It never raises: without the package installed it does nothing, and
# IMPORTLIB_METADATA_CACHE=0 (false/off/no) still turns the cache off. It is
# safe next to the .pth file: activation happens once per interpreter.
try:
    import importlib_metadata_cache as _imc
except Exception:
    pass
else:
    try:
        _imc.activate()
    except Exception:
        pass
    del _imc
# --- importlib-metadata-cache: end --------------------------------------------
