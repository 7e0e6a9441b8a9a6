//! Reading and making the burn-flex tensors of our kernels.

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

/// The f32 values of a tensor in row-major order (a copy only when it is a strided view).
pub fn values(tensor: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(
            tensor
                .to_contiguous()
                .into_data()
                .try_to_vec::<f32>()
                .expect("the models compute in f32"),
        ),
    }
}

/// A tensor of `values` in row-major order.
pub fn flex_tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
