import Foundation

/// A place on Earth in degrees, and great-circle distances between places.
package struct GeoPoint: Sendable, Hashable, Codable {
    package var latitude: Double
    package var longitude: Double

    /// Mean Earth radius, km (IUGG).
    package static let earthRadius = 6371.0088

    package init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// True for latitudes in -90...90 and longitudes in -180...180.
    package var isValid: Bool { (-90...90).contains(latitude) && (-180...180).contains(longitude) && latitude.isFinite && longitude.isFinite }

    /// The point as a unit vector, so a distance is one dot product and one `acos`.
    var unitVector: SIMD3<Double> {
        let lat = latitude * .pi / 180, lon = longitude * .pi / 180
        return SIMD3(cos(lat) * cos(lon), cos(lat) * sin(lon), sin(lat))
    }

    /// Great-circle distance in km (haversine: exact for short and long distances alike).
    package func distance(to other: GeoPoint) -> Double {
        let dLat = (other.latitude - latitude) * .pi / 180
        let dLon = (other.longitude - longitude) * .pi / 180
        let a = sin(dLat / 2) * sin(dLat / 2)
            + cos(latitude * .pi / 180) * cos(other.latitude * .pi / 180) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * Self.earthRadius * asin(min(1, a.squareRoot()))
    }
}
