//! Blnk's precise amount, against cases computed by hand and confirmed by running Blnk's own
//! `convertDecimalToPrecise` (go1.26, shopspring/decimal v1.4.0).

use super::*;

fn p(amount: f64, precision: f64) -> i128 {
    apply_precision(amount, precision, None).unwrap()
}

#[test]
fn the_amount_enters_as_its_shortest_decimal() {
    // 1.005 is 1.00499999999999989... in binary; Blnk reads "1.005": 100.5, rounded away.
    assert_eq!(p(1.005, 100.0), 101);
    assert_eq!(p(0.1, 100.0), 10);
    assert_eq!(p(19.99, 100.0), 1999);
    assert_eq!(p(12.5, 100.0), 1250);
    assert_eq!(p(1e-7, 100.0), 0);
    assert_eq!(p(1e-7, 1e7), 1);
    assert_eq!(p(0.000001, 1e6), 1);
    assert_eq!(p(123456789.123, 1e9), 123_456_789_123_000_000);
}

#[test]
fn ties_take_go_s_even_shortest_digits() {
    // Exactly halfway between two 17-digit candidates: Go writes ...463.62, Rust's `{}` ...463.63.
    let tie: f64 = "98647591572463.625".parse().unwrap();
    assert_eq!(format!("{tie}"), "98647591572463.63");
    assert_eq!(p(tie, 100.0), 9_864_759_157_246_362);
    let tie: f64 = "2117498871357872.25".parse().unwrap();
    assert_eq!(format!("{tie}"), "2117498871357872.3");
    assert_eq!(p(tie, 10.0), 21_174_988_713_578_722);
}

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(p(2.5, 1.0), 3);
    assert_eq!(p(-2.5, 1.0), -3);
    assert_eq!(p(-1.005, 100.0), -101);
    assert_eq!(p(-1.004, 100.0), -100);
    assert_eq!(p(0.49, 1.0), 0);
}

#[test]
fn precision_zero_is_one_and_others_round_half_to_even() {
    assert_eq!(p(12.5, 0.0), 13);
    assert_eq!(p(12.5, 2.5), 25);
    assert_eq!(p(12.5, 3.5), 50);
    assert_eq!(p(12.5, 0.5), 0);
    assert_eq!(p(12.5, -100.0), -1250);
}

#[test]
fn a_positive_precise_amount_is_the_amount() {
    assert_eq!(apply_precision(1.005, 100.0, Some(5)), Ok(5));
    assert_eq!(apply_precision(1.005, 100.0, Some(-5)), Ok(101));
    assert_eq!(apply_precision(1.005, 100.0, Some(0)), Ok(101));
    assert_eq!(apply_precision(0.0, 0.0, Some(i128::MAX)), Ok(i128::MAX));
}

#[test]
fn large_values_are_exact_up_to_i128() {
    assert_eq!(p(1e20, 100.0), 10i128.pow(22));
    assert_eq!(p(1e38, 1.0), 10i128.pow(38));
    assert_eq!(p(0.0, 1e300), 0);
    assert_eq!(p(1e300, 0.4), 0);
    let too_large = Err(Unreadable::TooLarge { field: "amount" });
    assert_eq!(apply_precision(1e30, 1e10, None), too_large);
    assert_eq!(apply_precision(1e300, 1.0, None), too_large);
    assert_eq!(apply_precision(1.0, 1e300, None), too_large);
    assert_eq!(apply_precision(-1.0, f64::MAX, None), too_large);
    assert_eq!(apply_precision(2.0, 1e38, None), too_large);
}

/// Where the amount's digits times the precision pass u128 but the result fits: exact, as
/// Blnk (and the fake's decimal arithmetic) computes it. The precision enters as its exact
/// binary value: 1e30 is 1000000000000000019884624838656.
#[test]
fn every_result_that_fits_i128_is_exact_whatever_the_intermediate() {
    assert_eq!(
        p(5001622.05, 1e30),
        5_001_622_050_000_000_099_455_378_048_999_541_965
    );
    assert_eq!(
        p(-5001622.05, 1e30),
        -5_001_622_050_000_000_099_455_378_048_999_541_965
    );
    assert_eq!(
        p(1.0, 1.7e38),
        169_999_999_999_999_998_061_923_293_023_115_935_744
    );
    // 1e300's exact binary value is not a power of ten: 1e-300 of it is 1.0000...0525, so 1.
    assert_eq!(p(1e-300, 1e300), 1);
    assert_eq!(p(5e-324, 1e300), 0);
    assert_eq!(
        p(2.9e-270, 1e300),
        2_900_000_000_000_000_152_263_804_740_093
    );
    // Rounded to the nearest on the wide path too (it can meet no exact half: that needs
    // more factors of 5 than 17 digits hold).
    assert_eq!(p(2.5e-39, 2f64.powi(130)), 3);
    assert_eq!(p(1.5e-39, 2f64.powi(130)), 2);
    assert_eq!(
        p(7.3e-5, 2f64.powi(140)),
        101_747_149_968_295_968_083_256_714_618_958_149_371
    );
    assert_eq!(
        p(-7.7e-5, 2f64.powi(140)),
        -107_322_336_267_928_623_868_640_644_187_120_239_748
    );
    assert_eq!(
        p(1.23456789123456e-12, 2f64.powi(150)),
        1_762_034_174_253_388_192_289_848_907_079_185
    );
}

#[test]
fn a_precision_that_is_not_a_number_is_refused() {
    let precision = Err(Unreadable::TooLarge { field: "precision" });
    assert_eq!(apply_precision(1.0, f64::INFINITY, None), precision);
    assert_eq!(apply_precision(1.0, f64::NAN, None), precision);
}
