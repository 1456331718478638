"""Where the generated chain trades: store cities with coordinates and regions, and distances."""

from __future__ import annotations

import math

# (city, state, region, latitude, longitude); the chain opens stores down this list.
STORE_CITIES: tuple[tuple[str, str, str, float, float], ...] = (
    ("Denver", "CO", "Mountain", 39.7392, -104.9903),
    ("Boulder", "CO", "Mountain", 40.0150, -105.2705),
    ("Colorado Springs", "CO", "Mountain", 38.8339, -104.8214),
    ("Salt Lake City", "UT", "Mountain", 40.7608, -111.8910),
    ("Seattle", "WA", "Pacific", 47.6062, -122.3321),
    ("Portland", "OR", "Pacific", 45.5152, -122.6784),
    ("San Francisco", "CA", "Pacific", 37.7749, -122.4194),
    ("San Jose", "CA", "Pacific", 37.3382, -121.8863),
    ("Los Angeles", "CA", "Pacific", 34.0522, -118.2437),
    ("San Diego", "CA", "Pacific", 32.7157, -117.1611),
    ("Phoenix", "AZ", "Mountain", 33.4484, -112.0740),
    ("Albuquerque", "NM", "Mountain", 35.0844, -106.6504),
    ("Austin", "TX", "South", 30.2672, -97.7431),
    ("Dallas", "TX", "South", 32.7767, -96.7970),
    ("Houston", "TX", "South", 29.7604, -95.3698),
    ("San Antonio", "TX", "South", 29.4241, -98.4936),
    ("Minneapolis", "MN", "Midwest", 44.9778, -93.2650),
    ("Chicago", "IL", "Midwest", 41.8781, -87.6298),
    ("Madison", "WI", "Midwest", 43.0731, -89.4012),
    ("Columbus", "OH", "Midwest", 39.9612, -82.9988),
    ("Detroit", "MI", "Midwest", 42.3314, -83.0458),
    ("Atlanta", "GA", "South", 33.7490, -84.3880),
    ("Nashville", "TN", "South", 36.1627, -86.7816),
    ("Charlotte", "NC", "South", 35.2271, -80.8431),
    ("Raleigh", "NC", "South", 35.7796, -78.6382),
    ("Miami", "FL", "South", 25.7617, -80.1918),
    ("Orlando", "FL", "South", 28.5383, -81.3792),
    ("Washington", "DC", "Northeast", 38.9072, -77.0369),
    ("Philadelphia", "PA", "Northeast", 39.9526, -75.1652),
    ("Pittsburgh", "PA", "Northeast", 40.4406, -79.9959),
    ("New York", "NY", "Northeast", 40.7128, -74.0060),
    ("Brooklyn", "NY", "Northeast", 40.6782, -73.9442),
    ("Boston", "MA", "Northeast", 42.3601, -71.0589),
    ("Burlington", "VT", "Northeast", 44.4759, -73.2121),
    ("Portland", "ME", "Northeast", 43.6591, -70.2568),
    ("Providence", "RI", "Northeast", 41.8240, -71.4128),
    ("Kansas City", "MO", "Midwest", 39.0997, -94.5786),
    ("St. Louis", "MO", "Midwest", 38.6270, -90.1994),
    ("Omaha", "NE", "Midwest", 41.2565, -95.9345),
    ("Boise", "ID", "Mountain", 43.6150, -116.2023),
    ("Bozeman", "MT", "Mountain", 45.6770, -111.0429),
    ("Anchorage", "AK", "Pacific", 61.2181, -149.9003),
    ("Honolulu", "HI", "Pacific", 21.3069, -157.8583),
    ("Las Vegas", "NV", "Mountain", 36.1699, -115.1398),
    ("Reno", "NV", "Mountain", 39.5296, -119.8138),
    ("Sacramento", "CA", "Pacific", 38.5816, -121.4944),
    ("Spokane", "WA", "Pacific", 47.6588, -117.4260),
    ("Tucson", "AZ", "Mountain", 32.2226, -110.9747),
    ("Indianapolis", "IN", "Midwest", 39.7684, -86.1581),
    ("Cincinnati", "OH", "Midwest", 39.1031, -84.5120),
)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; associates ask for 'nearby stores' in kilometres."""
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
