"""The conformance cases, grouped by spec document.  Importing this
package registers them all, in this order."""
from . import lifecycle, hooks, config, linux  # noqa: F401
