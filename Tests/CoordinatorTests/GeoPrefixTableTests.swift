import DePINProtocol
import Foundation
import Testing

@testable import Coordinator

@Suite("Geo prefix table: viewers placed by address")
struct GeoPrefixTableTests {
    @Test("the longest matching prefix wins, for IPv4, IPv6 and IPv4 seen through IPv6")
    func longestPrefix() throws {
        let table = try GeoPrefixTable(text: """
            # operator's table
            0.0.0.0/0        us-east
            10.0.0.0/8       eu-west     # a comment after a place
            10.1.0.0/16      48.85 2.35
            10.1.2.128/25    35.68 139.69
            2001:db8::/32    ap-southeast
            2001:db8:ff::/48 -33.87 151.21

            """)
        #expect(table.count == 6)
        #expect(table.place(of: "192.0.2.1") == Regions.point("us-east"))
        #expect(table.place(of: "10.9.9.9") == Regions.point("eu-west"))
        #expect(table.place(of: "10.1.2.3") == GeoPoint(latitude: 48.85, longitude: 2.35))
        #expect(table.place(of: "10.1.2.200") == GeoPoint(latitude: 35.68, longitude: 139.69))
        #expect(table.place(of: "::ffff:10.1.2.3") == GeoPoint(latitude: 48.85, longitude: 2.35))
        #expect(table.place(of: "2001:db8:1::1") == Regions.point("ap-southeast"))
        #expect(table.place(of: "2001:db8:ff::1") == GeoPoint(latitude: -33.87, longitude: 151.21))
        #expect(table.place(of: "2001:db9::1") == nil)
        #expect(table.place(of: "not an address") == nil)
        #expect(GeoPrefixTable().place(of: "10.0.0.1") == nil)
    }

    @Test("a bad line is refused with its number and what was expected")
    func badLines() {
        for (text, expected) in [
            ("10.0.0.0/8 eu-west\n10.0.0.0/33 eu-west", "line 2: expected an IPv4 or IPv6 prefix"),
            ("10.0.0.0 eu-west", "line 1: expected an IPv4 or IPv6 prefix"),
            ("# x\n10.0.0.0/8 atlantis", "line 2: expected LATITUDE LONGITUDE or a region"),
            ("10.0.0.0/8 95 10", "line 1: 95.0, 10.0 is not a place on Earth"),
            ("10.0.0.0/8 1 2 3", "line 1: expected LATITUDE LONGITUDE or a region"),
        ] {
            #expect(performing: { try GeoPrefixTable(text: text) }, throws: { "\($0)".contains(expected) })
        }
    }
}

@Suite("Route answers as JSON")
struct RouteAnswerTests {
    @Test("the hand-written JSON decodes to the same answer, whatever the strings hold")
    func roundTrip() throws {
        let answer = RouteAnswer(
            content: "title-1", session: "s\"e\\s\u{1}sion", token: "a.b.c",
            edges: [
                RoutedEdge(id: "e1", url: "https://[::1]:8443/x?y=\"z\"", distanceKilometres: 12.5),
                RoutedEdge(id: "e2", url: "http://édge.example", distanceKilometres: 0),
            ])
        let decoded = try JSONDecoder().decode(RouteAnswer.self, from: Data(answer.json.utf8))
        #expect(decoded.content == answer.content && decoded.session == answer.session && decoded.token == answer.token)
        #expect(decoded.edges == answer.edges)
        #expect(try JSONDecoder().decode(RouteAnswer.self, from: Data(RouteAnswer(content: "t", session: "s", token: "x", edges: []).json.utf8)).edges.isEmpty)
    }
}
