# Vectorizable exp-based loops (see _vecmath.h): sigmoid, tanh and the binary
# cross-entropy terms over m contiguous entries, and the column maxima and sums
# of exponentials of softmax; computed in double.
cdef extern from "_vecmath.h" nogil:
    void sigmoid_f "dnn_sigmoid_f" (Py_ssize_t m, const float *z, float *a)
    void sigmoid_d "dnn_sigmoid_d" (Py_ssize_t m, const double *z, double *a)
    void tanh_f "dnn_tanh_f" (Py_ssize_t m, const float *z, float *a)
    void tanh_d "dnn_tanh_d" (Py_ssize_t m, const double *z, double *a)
    void bce_terms_f "dnn_bce_f" (Py_ssize_t m, const float *z, const float *y,
                                  double *terms, float *a)
    void bce_terms_d "dnn_bce_d" (Py_ssize_t m, const double *z, const double *y,
                                  double *terms, double *a)
    void column_exp_f "dnn_column_exp_f" (Py_ssize_t n, Py_ssize_t m, const float *Z,
                                          float *A, double *work)
    void column_exp_d "dnn_column_exp_d" (Py_ssize_t n, Py_ssize_t m, const double *Z,
                                          double *A, double *work)
