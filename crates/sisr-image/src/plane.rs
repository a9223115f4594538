//! A single-channel image in row-major order, and MATLAB's conversions of its samples.

/// MATLAB `uint8(x)`: round half away from zero, saturate to [0, 255]; NaN becomes 0.
#[inline]
pub fn saturate_u8(v: f64) -> u8 {
    if v.is_nan() { 0 } else { v.round().clamp(0.0, 255.0) as u8 }
}

/// MATLAB `uint16(x)`.
#[inline]
pub fn saturate_u16(v: f64) -> u16 {
    if v.is_nan() { 0 } else { v.round().clamp(0.0, 65535.0) as u16 }
}

/// One channel of an image, row-major, `data.len() == width * height`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane<T> {
    pub width: usize,
    pub height: usize,
    pub data: Vec<T>,
}

impl<T: Copy> Plane<T> {
    pub fn new(width: usize, height: usize, data: Vec<T>) -> Self {
        assert_eq!(data.len(), width * height, "plane data does not match {width}x{height}");
        Plane { width, height, data }
    }

    pub fn filled(width: usize, height: usize, value: T) -> Self {
        Plane { width, height, data: vec![value; width * height] }
    }

    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> T) -> Self {
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                data.push(f(x, y));
            }
        }
        Plane { width, height, data }
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> T {
        self.data[y * self.width + x]
    }

    pub fn row(&self, y: usize) -> &[T] {
        &self.data[y * self.width..(y + 1) * self.width]
    }

    pub fn map<U>(&self, f: impl Fn(T) -> U) -> Plane<U> {
        Plane { width: self.width, height: self.height, data: self.data.iter().map(|&v| f(v)).collect() }
    }

    /// The `w`x`h` window whose top-left corner is `(x0, y0)`.
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Plane<T> {
        assert!(x0 + w <= self.width && y0 + h <= self.height, "crop outside the plane");
        let mut data = Vec::with_capacity(w * h);
        for y in y0..y0 + h {
            data.extend_from_slice(&self.data[y * self.width + x0..y * self.width + x0 + w]);
        }
        Plane { width: w, height: h, data }
    }

    /// Removes `border` pixels on every side (the metrics' shave).
    pub fn shave(&self, border: usize) -> Plane<T> {
        assert!(2 * border < self.width && 2 * border < self.height, "border larger than the plane");
        self.crop(border, border, self.width - 2 * border, self.height - 2 * border)
    }
}

impl Plane<f64> {
    /// MATLAB `uint8(x)`: round half away from zero, saturate to [0, 255].
    pub fn to_u8(&self) -> Plane<u8> {
        self.map(saturate_u8)
    }
}

impl Plane<u8> {
    pub fn to_f64(&self) -> Plane<f64> {
        self.map(f64::from)
    }
}

impl<T: Copy> Plane<T> {
    /// Transposes rows and columns.
    pub fn transpose(&self) -> Plane<T> {
        Plane::from_fn(self.height, self.width, |x, y| self.get(y, x))
    }

    /// One of the 8 dihedral transforms (self-ensemble): bit 2 transposes, then bit 1 flips
    /// vertically and bit 0 flips horizontally.
    pub fn dihedral(&self, t: u8) -> Plane<T> {
        let p = if t & 4 != 0 { self.transpose() } else { self.clone() };
        Plane::from_fn(p.width, p.height, |x, y| {
            let sx = if t & 1 != 0 { p.width - 1 - x } else { x };
            let sy = if t & 2 != 0 { p.height - 1 - y } else { y };
            p.get(sx, sy)
        })
    }

    /// Undoes [`Plane::dihedral`] with the same `t`.
    pub fn undo_dihedral(&self, t: u8) -> Plane<T> {
        let flipped = self.dihedral(t & 3);
        if t & 4 != 0 { flipped.transpose() } else { flipped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_transforms_are_undone() {
        let p = Plane::from_fn(5, 3, |x, y| x * 10 + y);
        for t in 0..8 {
            assert_eq!(p.dihedral(t).undo_dihedral(t), p, "transform {t}");
        }
        assert_eq!(p.dihedral(1).get(0, 0), p.get(4, 0));
        assert_eq!(p.dihedral(4).width, 3);
    }
}
