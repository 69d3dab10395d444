#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef srv_module = {PyModuleDef_HEAD_INIT, "servin._native", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&srv_module); }
